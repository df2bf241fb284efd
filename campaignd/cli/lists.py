"""`campaignd lists`: create, show, change (name, opt-in, description, public) and delete lists."""

from __future__ import annotations

import click

from campaignd.campaigns import lists as use
from campaignd.cli.ask import confirm
from campaignd.cli.common import (
    AppContext,
    async_command,
    open_store,
    pass_app,
    print_json,
    print_table,
)
from campaignd.domain import OptIn

OPTIN = click.Choice([o.value for o in OptIn])


@click.group()
def lists() -> None:
    """Create, show, change and delete mailing lists."""


@lists.command("create")
@click.argument("name")
@click.option(
    "--optin",
    type=OPTIN,
    default=OptIn.SINGLE.value,
    show_default=True,
    help="double: only confirmed subscriptions receive campaigns.",
)
@click.option("--description", default="", help="What the list is for.")
@click.option(
    "--public", is_flag=True, help="Offered by the subscription form and the preference page."
)
@click.option("--json", "as_json", is_flag=True, help="Print the new list as JSON.")
@pass_app
@async_command
async def create(
    app: AppContext, name: str, optin: str, description: str, public: bool, as_json: bool
) -> None:
    """Create the list NAME (names are unique ignoring case)."""
    async with open_store(app.settings) as store:
        created = await use.create_list(store, name, OptIn(optin), description, public=public)
    if as_json:
        print_json(created)
    else:
        kind = "public, " if created.public else ""
        click.echo(
            f"created list {created.name!r} (id {created.id}, {kind}{created.optin} opt-in, "
            f"uuid {created.uuid})"
        )


@lists.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the lists as a JSON array.")
@pass_app
@async_command
async def ls(app: AppContext, as_json: bool) -> None:
    """Show every list with its number of subscribers (not unsubscribed)."""
    async with open_store(app.settings) as store:
        found = await store.lists()
    if as_json:
        print_json(found)
        return
    print_table(
        ["id", "name", "optin", "subscribers", "description", "created", "public", "uuid"],
        [
            (
                m.id,
                m.name,
                m.optin,
                m.subscriber_count,
                m.description or None,
                m.created_at,
                "yes" if m.public else "no",
                m.uuid,
            )
            for m in found
        ],
    )


@lists.command("update")
@click.argument("name")
@click.option("--name", "new_name", help="A new name (unique ignoring case).")
@click.option("--optin", type=OPTIN, help="double: only confirmed subscriptions receive.")
@click.option("--description", help="What the list is for.")
@click.option(
    "--public/--private",
    default=None,
    help="Offer it on the subscription form and the preference page, or stop.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_app
@async_command
async def update(
    app: AppContext,
    name: str,
    new_name: str | None,
    optin: str | None,
    description: str | None,
    public: bool | None,
    as_json: bool,
) -> None:
    """Rename the list NAME or change its opt-in, description or whether it is public."""
    async with open_store(app.settings) as store:
        updated = await use.update_list(
            store,
            name,
            new_name=new_name,
            optin=None if optin is None else OptIn(optin),
            description=description,
            public=public,
        )
    if as_json:
        print_json(updated)
    else:
        kind = "public" if updated.public else "private"
        click.echo(
            f"updated list {updated.name!r} (id {updated.id}, {updated.optin} opt-in, {kind}, "
            f"uuid {updated.uuid})"
        )


@lists.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
@async_command
async def delete(app: AppContext, name: str, yes: bool) -> None:
    """Delete the list NAME and its subscriptions (the subscribers stay). Refused while a
    draft, scheduled, running or paused campaign uses it."""
    async with open_store(app.settings) as store:
        found = await use.find_list(store, name)
        await use.check_deletable(store, found)
        confirm(f"Delete list {found.name!r} ({found.subscriber_count} subscriber(s) on it)?", yes)
        deleted = await use.delete_list(store, name)
    click.echo(f"deleted list {deleted.name!r} (id {deleted.id})")
