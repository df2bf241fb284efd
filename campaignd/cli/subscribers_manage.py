"""`campaignd subscribers update|unblocklist|delete|wipe|export|export-data` (thin: the rules are
campaignd.subscribers.manage, .personal and campaignd.importing.export)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from campaignd.cli.common import AppContext, async_command, fail, open_store, pass_app, print_json
from campaignd.domain import SubscriberStatus, utcnow
from campaignd.errors import NotFound
from campaignd.subscribers import manage

_STATUSES = click.Choice([s.value for s in SubscriberStatus])


@click.command("update")
@click.argument("email")
@click.option("--name", help="New display name; empty: derived from the address.")
@click.option("--attributes", help="Replace the attributes with this JSON object.")
@click.option("--merge-attributes", help="Merge this JSON object into the attributes (top level).")
@click.option("--status", type=_STATUSES, help="New subscriber status.")
@click.option("--email", "new_email", help="New address (checked like `subscribers add`).")
@click.option("--json", "as_json", is_flag=True, help="Print the subscriber as JSON.")
@pass_app
@async_command
async def update_cmd(
    app: AppContext,
    email: str,
    name: str | None,
    attributes: str | None,
    merge_attributes: str | None,
    status: str | None,
    new_email: str | None,
    as_json: bool,
) -> None:
    """Change the subscriber EMAIL; nothing changes if any value is refused."""
    replace = None if attributes is None else manage.json_object(attributes, "--attributes")
    merge = (
        None
        if merge_attributes is None
        else manage.json_object(merge_attributes, "--merge-attributes")
    )
    async with open_store(app.settings) as store:
        updated = await manage.update(
            store,
            email,
            utcnow(),
            name=name,
            attributes=replace,
            merge_attributes=merge,
            status=None if status is None else SubscriberStatus(status),
            new_email=new_email,
        )
    if as_json:
        print_json(updated)
        return
    click.echo(f"updated subscriber {updated.email} (id {updated.id})")


@click.command("unblocklist")
@click.argument("email")
@pass_app
@async_command
async def unblocklist_cmd(app: AppContext, email: str) -> None:
    """Take EMAIL off the blocklist (status enabled). Its subscriptions stay unsubscribed."""
    async with open_store(app.settings) as store:
        found = await manage.unblocklist(store, email, utcnow())
    click.echo(
        f"unblocklisted {found.email} (status enabled); its subscriptions stay unsubscribed: "
        "subscribe it again to mail it"
    )


def _confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; without one, --yes is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail("stdin is not a terminal: give --yes to confirm; nothing was changed")
    if not click.confirm(question, default=False):
        fail("not confirmed; nothing was changed")


@click.command("delete")
@click.argument("emails", nargs=-1)
@click.option("--query", help="Delete every subscriber matching this filter (docs/filters.md).")
@click.option("--yes", is_flag=True, help="Do not ask (required when stdin is not a terminal).")
@pass_app
@async_command
async def delete_cmd(
    app: AppContext, emails: tuple[str, ...], query: str | None, yes: bool
) -> None:
    """Delete the subscribers EMAIL..., or those matching --query, with their subscriptions
    (all or none; the count is asked before anything is deleted).

    Their delivery ledger rows stay, so campaign counts stay exact. For GDPR erasure use
    `subscribers wipe`.
    """
    from campaignd.subscribers.query import matching_ids

    if bool(emails) == (query is not None):
        fail("give the addresses to delete or --query EXPR (one of the two); nothing was deleted")
    async with open_store(app.settings) as store:
        try:
            ids = await (
                manage.resolve(store, emails) if emails else matching_ids(store, query or "")
            )
        except NotFound as exc:
            fail(f"{exc}; nothing was deleted")
        if not ids:
            click.echo("no subscriber matches; nothing was deleted")
            return
        _confirm(f"Delete {len(ids)} subscriber(s) and their subscriptions?", yes)
        deleted = await manage.delete(store, ids, utcnow())
    click.echo(f"deleted {deleted} subscriber(s); their delivery ledger rows are kept")


@click.command("wipe")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask (required when stdin is not a terminal).")
@pass_app
@async_command
async def wipe_cmd(app: AppContext, email: str, yes: bool) -> None:
    """GDPR erasure: delete EMAIL, its subscriptions and bounces, anonymise its ledger rows."""
    async with open_store(app.settings) as store:
        found = await store.get_subscriber(email)
        _confirm(f"Erase {found.email} and everything held about it?", yes)
        wiped = await manage.wipe(store, found.email, utcnow())
    click.echo(
        f"wiped {wiped.email}: {wiped.ledger_rows} ledger row(s) kept anonymously for the counts"
    )


@click.command("export")
@click.option("--list", "list_name", help="Only subscribers with a subscription to this list.")
@click.option("--status", type=_STATUSES, help="Only subscribers with this status.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file (default: standard output).",
)
@pass_app
@async_command
async def export_cmd(
    app: AppContext, list_name: str | None, status: str | None, output: Path | None
) -> None:
    """Subscribers as CSV that `subscribers import` reads back (formula-like cells get a ')."""
    from campaignd.importing.export import write_csv

    chosen = None if status is None else SubscriberStatus(status)
    async with open_store(app.settings) as store:
        if output is None:
            count = await write_csv(store, sys.stdout, list_name=list_name, status=chosen)
        else:
            partial = output.with_name(f".{output.name}.partial")
            try:
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.fchmod(fd, 0o600)  # personal data, also if an old partial file was there
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                    count = await write_csv(store, out, list_name=list_name, status=chosen)
                partial.replace(output)
            except OSError as exc:
                fail(f"cannot write {output}: {exc.strerror or exc}")
            finally:
                partial.unlink(missing_ok=True)
    if output is not None:
        click.echo(f"exported {count} subscriber(s) to {output}", err=True)


@click.command("export-data")
@click.argument("email")
@pass_app
@async_command
async def export_data_cmd(app: AppContext, email: str) -> None:
    """GDPR access: everything held about EMAIL (profile, subscriptions, ledger, bounces)."""
    from campaignd.subscribers.personal import export_data

    async with open_store(app.settings) as store:
        data = await export_data(store, email, utcnow())
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
