"""`campaignd lists`: create, update (public or not) and show lists with subscriber counts."""

from __future__ import annotations

import click

from campaignd.cli.common import (
    AppContext,
    async_command,
    fail,
    open_store,
    pass_app,
    print_json,
    print_table,
)
from campaignd.domain import OptIn

MAX_LIST_NAME = 200


@click.group()
def lists() -> None:
    """Create and show mailing lists."""


@lists.command("create")
@click.argument("name")
@click.option(
    "--optin",
    type=click.Choice([o.value for o in OptIn]),
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
    """Create the list NAME."""
    name = name.strip()
    if not name:
        fail("the list name is empty")
    if len(name) > MAX_LIST_NAME:
        fail(f"the list name is longer than {MAX_LIST_NAME} characters")
    async with open_store(app.settings) as store:
        created = await store.create_list(name, OptIn(optin), description.strip(), public=public)
    if as_json:
        print_json(created)
    else:
        kind = "public, " if created.public else ""
        click.echo(
            f"created list {created.name!r} (id {created.id}, {kind}{created.optin} opt-in, "
            f"uuid {created.uuid})"
        )


@lists.command("update")
@click.argument("name")
@click.option(
    "--public/--private",
    required=True,
    help="Offer it on the subscription form and the preference page, or stop.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_app
@async_command
async def update(app: AppContext, name: str, public: bool, as_json: bool) -> None:
    """Change the list NAME: whether it is public."""
    async with open_store(app.settings) as store:
        found = await store.get_list(name)
        changed = await store.set_list_public(found.id, public)
    if as_json:
        print_json(changed)
    else:
        kind = "public" if changed.public else "private"
        click.echo(f"list {changed.name!r} is {kind} (uuid {changed.uuid})")


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
