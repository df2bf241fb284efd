"""`campaignd bounces`: the recorded bounces and complaints, by campaign or address."""

from __future__ import annotations

import click

from campaignd.bounces.report import DEFAULT_LIMIT, campaign_label, list_bounces, one_line
from campaignd.cli.common import (
    AppContext,
    async_command,
    open_store,
    pass_app,
    print_json,
    print_table,
)


@click.group()
def bounces() -> None:
    """Show recorded bounces and complaints."""


@bounces.command("ls")
@click.option("--campaign", "campaign_id", type=int, metavar="ID", help="Only this campaign's.")
@click.option("--email", metavar="EMAIL", help="Only this subscriber's (case-insensitive).")
@click.option(
    "--limit",
    type=int,
    default=DEFAULT_LIMIT,
    show_default=True,
    help="At most this many, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
@async_command
async def ls(
    app: AppContext, campaign_id: int | None, email: str | None, limit: int, as_json: bool
) -> None:
    """List recorded bounces, newest first: when, who, which kind, campaign, source and reason.

    An unknown campaign or address is refused (exit 1).
    """
    async with open_store(app.settings) as store:
        found = await list_bounces(store, campaign_id=campaign_id, email=email, limit=limit)
    if as_json:
        print_json(found)
        return
    print_table(
        ["bounced", "email", "kind", "campaign", "source", "reason"],
        [
            (
                b.created_at,
                one_line(b.email),
                b.kind,
                campaign_label(b),
                b.source,
                one_line(b.reason, 100),
            )
            for b in found
        ],
    )
