"""`campaignd subscribers ls`: subscribers matching a filter, a page at a time."""

from __future__ import annotations

import csv
import json
import sys

import click

from campaignd.cli.common import (
    AppContext,
    async_command,
    open_store,
    pass_app,
    print_json,
    print_table,
)
from campaignd.domain import Subscriber
from campaignd.importing.csvsafe import safe_row
from campaignd.subscribers.query import DEFAULT_PAGE, MAX_PAGE, list_subscribers

CSV_COLUMNS = ["id", "uuid", "email", "name", "status", "attributes", "lists", "created_at"]


def _lists(sub: Subscriber) -> str:
    return "; ".join(f"{s.list_name} ({s.status.value})" for s in sub.subscriptions)


def _csv(rows: list[Subscriber]) -> None:
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for s in rows:  # names, attributes and list names are anyone's text: neutralised
        attributes = json.dumps(dict(s.attributes), ensure_ascii=False, sort_keys=True)
        out.writerow(
            safe_row(
                [
                    s.id,
                    str(s.uuid),
                    s.email,
                    s.name,
                    s.status.value,
                    attributes,
                    _lists(s),
                    s.created_at.isoformat(),
                ]
            )
        )


@click.command("ls")
@click.option("--query", "-q", "expression", help="A filter, e.g. 'attributes.city = \"Oslo\"'.")
@click.option(
    "--limit",
    type=int,
    default=DEFAULT_PAGE,
    show_default=True,
    help=f"At most this many (1 to {MAX_PAGE}).",
)
@click.option("--after", type=int, default=0, help="Only ids after this one (the next page).")
@click.option("--json", "as_json", is_flag=True, help="Print {subscribers, next_after} as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout (formula-neutralised).")
@pass_app
@async_command
async def ls_cmd(
    app: AppContext,
    expression: str | None,
    limit: int,
    after: int,
    as_json: bool,
    as_csv: bool,
) -> None:
    """List subscribers in id order, those matching --query only (see docs/filters.md).

    A full page ends with `next: --after ID` (on stderr with --json or --csv)."""
    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    async with open_store(app.settings) as store:
        page = await list_subscribers(store, expression, after=after, limit=limit)
    rows = page.subscribers
    if as_json:
        print_json({"subscribers": rows, "next_after": page.next_after})
    elif as_csv:
        _csv(rows)
    else:
        print_table(
            ["id", "email", "name", "status", "lists", "created"],
            [(s.id, s.email, s.name, s.status, _lists(s) or "-", s.created_at) for s in rows],
        )
    if page.next_after is not None:
        click.echo(f"next: --after {page.next_after}", err=as_json or as_csv)
