"""`campaignd optin send`: the double opt-in confirmation to everyone awaiting it."""

from __future__ import annotations

from pathlib import Path

import click

from campaignd.cli.common import AppContext, fail, open_store, pass_app, print_json, run
from campaignd.config import DEFAULT_POOL, Settings
from campaignd.domain import OptIn
from campaignd.rendering.compose import CampaignMailer
from campaignd.rendering.dkim import signer_from_settings


@click.group()
def optin() -> None:
    """Double opt-in confirmation messages."""


@optin.command("send")
@click.option("--list", "list_names", multiple=True, help="Only these double opt-in lists.")
@click.option("--messenger", default=DEFAULT_POOL, show_default=True, help="Messenger to use.")
@click.option(
    "--template",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="HTML body template with {{ optin_url() }}; default: a built-in one.",
)
@click.option("--subject", help="Subject line (a template); default: a built-in one.")
@click.option("--from", "from_email", default="", help="From address; default: app.from_email.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_app
def send(
    app: AppContext,
    list_names: tuple[str, ...],
    messenger: str,
    template: Path | None,
    subject: str | None,
    from_email: str,
    as_json: bool,
) -> None:
    """Send the confirmation message to unconfirmed subscribers of double opt-in lists that
    were not sent one yet (each subscriber gets it once)."""
    from campaignd.subscribers import optin as use_case

    settings = app.settings
    secret = settings.require_secret()
    body = use_case.DEFAULT_TEMPLATE
    if template is not None:
        try:
            body = template.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {template}: {exc}")
    mailer = use_case.prepare(
        settings.app,
        secret,
        template=body,
        subject=subject or use_case.DEFAULT_SUBJECT,
        from_email=from_email,
        dkim=signer_from_settings(settings.dkim),
    )
    run(_send(settings, mailer, list_names, messenger, as_json))


async def _send(
    settings: Settings,
    mailer: CampaignMailer,
    list_names: tuple[str, ...],
    messenger: str,
    as_json: bool,
) -> None:
    from campaignd.messengers.registry import build_messengers, close_messengers
    from campaignd.subscribers import optin as use_case

    async with open_store(settings) as store:
        list_ids = None
        if list_names:
            list_ids = []
            for name in dict.fromkeys(list_names):
                found = await store.get_list(name)
                if found.optin is not OptIn.DOUBLE:
                    fail(f"list {name!r} is not a double opt-in list")
                list_ids.append(found.id)
        messengers = build_messengers(settings)
        if messenger not in messengers:
            fail(f"no messenger named {messenger!r} (see `campaignd messengers ls`)")
        try:
            report = await use_case.send_optins(
                store, messengers[messenger], mailer, list_ids=list_ids
            )
        finally:
            await close_messengers(messengers)
    if as_json:
        print_json(report)
    else:
        click.echo(f"sent {report.sent}, failed {report.failed}, unknown {report.unknown}")
