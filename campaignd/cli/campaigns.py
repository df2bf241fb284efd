"""`campaignd campaigns`: create, ls, show, state changes, failures, test, preview (+ manage)."""

from __future__ import annotations

import csv
import dataclasses
import sys
from pathlib import Path

import click

from campaignd.campaigns import lifecycle
from campaignd.campaigns.lifecycle import (
    apply_action,
    campaign_summary,
    create_campaign,
    parse_track,
)
from campaignd.campaigns.segments import segment_matches
from campaignd.campaigns.trial import preview as preview_message
from campaignd.campaigns.trial import send_tests
from campaignd.cli.campaign_input import FILE, parse_header, parse_when, read_file
from campaignd.cli.common import (
    AppContext,
    async_command,
    open_store,
    pass_app,
    print_json,
    print_table,
)
from campaignd.cli.stats import stats
from campaignd.config import DEFAULT_POOL
from campaignd.domain import (
    BounceCounts,
    ContentType,
    NewCampaign,
    TrackingMode,
    utcnow,
)
from campaignd.importing.csvsafe import safe_row


@click.group()
def campaigns() -> None:
    """Create, schedule, start, pause, resume, cancel and inspect campaigns."""


@campaigns.command("create")
@click.option("--name", required=True, help="Internal name of the campaign.")
@click.option("--subject", required=True, help="Subject line (a template).")
@click.option("--from", "from_email", help="From address; default app.from_email.")
@click.option("--list", "lists", multiple=True, required=True, help="A list to send to.")
@click.option("--body-file", required=True, type=FILE, help="The body (a template).")
@click.option("--alt-body-file", type=FILE, help="Plain-text alternative; default: derived.")
@click.option(
    "--content-type",
    type=click.Choice([c.value for c in ContentType]),
    default=ContentType.HTML.value,
    show_default=True,
)
@click.option("--template", help="A layout (see `templates add`) that wraps the body.")
@click.option("--messenger", default=DEFAULT_POOL, show_default=True)
@click.option("--header", "headers", multiple=True, help="'Name: value' (value is a template).")
@click.option("--tag", "tags", multiple=True)
@click.option("--send-at", help="ISO-8601 time with zone, used by `campaigns schedule`.")
@click.option("--segment", help="Only list members matching this filter (docs/filters.md).")
@click.option("--archive", is_flag=True, help="Readable in the public archive once sending.")
@click.option("--track", default="", help="What to track: opens, clicks or opens,clicks.")
@click.option("--json", "as_json", is_flag=True, help="Print the campaign as JSON.")
@pass_app
@async_command
async def create(
    app: AppContext,
    name: str,
    subject: str,
    from_email: str | None,
    lists: tuple[str, ...],
    body_file: Path,
    alt_body_file: Path | None,
    content_type: str,
    template: str | None,
    messenger: str,
    headers: tuple[str, ...],
    tags: tuple[str, ...],
    send_at: str | None,
    segment: str | None,
    archive: bool,
    track: str,
    as_json: bool,
) -> None:
    """Create a draft campaign; print its id."""
    from campaignd.messengers.registry import messenger_names

    settings = app.settings
    new = NewCampaign(
        name=name,
        subject=subject,
        from_email=from_email or settings.app.from_email,
        body=read_file(body_file) or "",
        alt_body=read_file(alt_body_file),
        lists=tuple(dict.fromkeys(lists)),
        content_type=ContentType(content_type),
        template=template,
        messenger=messenger,
        headers=tuple(parse_header(h) for h in headers),
        tags=tuple(dict.fromkeys(tags)),
        send_at=parse_when(send_at),
        segment=segment,
        archive=archive,
        track=parse_track(track),
    )
    async with open_store(settings) as store:
        campaign = await create_campaign(store, new, settings.app, messenger_names(settings))
        if new.track and settings.tracking.mode is TrackingMode.OFF:
            click.echo("warning: [tracking] mode is off: nothing will be tracked", err=True)
        elif new.track and new.content_type is ContentType.PLAIN:
            click.echo(
                "warning: a plain-text campaign has no HTML part: nothing is tracked", err=True
            )
        if as_json:
            names = await store.list_names()
            print_json(await campaign_summary(store, campaign, names))
        else:
            click.echo(campaign.id)


campaigns.add_command(stats)


@campaigns.command("ls")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@async_command
async def ls(app: AppContext, as_json: bool) -> None:
    """List campaigns with their progress."""
    async with open_store(app.settings) as store:
        names = await store.list_names()
        rows = [await campaign_summary(store, c, names) for c in await store.campaigns()]
    if as_json:
        print_json(rows)
        return
    print_table(
        ["id", "name", "status", "to_send", "sent", "failed", "send_at"],
        [(r.id, r.name, r.status, r.to_send, r.sent, r.failed, r.send_at) for r in rows],
    )


@campaigns.command("show")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_app
@async_command
async def show(app: AppContext, campaign_id: int, as_json: bool) -> None:
    """Show a campaign and its exact delivery counts."""
    async with open_store(app.settings) as store:
        campaign = await store.get_campaign(campaign_id)
        names = await store.list_names()
        summary = await campaign_summary(store, campaign, names)
    if as_json:
        print_json(summary)
        return
    fields = dataclasses.fields(summary)
    width = max(len(field.name) for field in fields)
    for field in fields:
        name, shown = field.name, getattr(summary, field.name)
        if name == "lists":
            continue  # the ids are shown next to the names
        if name == "list_names":
            name = "lists"
            shown = ", ".join(f"{n} (#{i})" for n, i in zip(shown, summary.lists, strict=True))
        elif isinstance(shown, tuple):
            shown = ", ".join(map(str, shown))
        elif isinstance(shown, BounceCounts):
            shown = f"hard {shown.hard}, soft {shown.soft}, complaint {shown.complaint}"
        click.echo(f"{name:>{width}}: {'-' if shown in (None, '') else shown}")


def _action(action: str, doc: str) -> click.Command:
    @click.command(action, help=doc)
    @click.argument("campaign_id", type=int)
    @pass_app
    @async_command
    async def command(app: AppContext, campaign_id: int, **kwargs: str | bool | None) -> None:
        send_at = kwargs.get("send_at")
        when = parse_when(send_at if isinstance(send_at, str) else None)
        async with open_store(app.settings) as store:
            campaign = await apply_action(
                store,
                campaign_id,
                action,
                utcnow(),
                when,
                app=app.settings.app,
                force=bool(kwargs.get("force")),
                warn=lambda line: click.echo(line, err=True),
                at_once=bool(kwargs.get("now")),
            )
            matches = await segment_matches(store, campaign) if action == "start" else None
        extra = (
            f" for {campaign.send_at.isoformat()}"
            if campaign.send_at and action == "schedule"
            else ""
        )
        click.echo(f"campaign {campaign.id} is {campaign.status.value}{extra}")
        if matches is not None:
            click.echo(f"segment: {matches} eligible subscribers on its lists match")

    if action == "schedule":
        command = click.option("--send-at", help="ISO-8601 time with zone (default: as created)")(
            command
        )
        command = click.option(
            "--now", is_flag=True, help="Start now instead (as `start`); for a send time passed."
        )(command)
    if action in ("start", "schedule"):
        command = click.option(
            "--force",
            is_flag=True,
            help="Go ahead although recipients lack attributes the templates use (under "
            'app.missing_attributes = "fail" those recipients fail).',
        )(command)
    return command


@campaigns.command("archive")
@click.argument("campaign_id", type=int)
@click.option("--off", is_flag=True, help="Take it out of the archive.")
@pass_app
@async_command
async def archive(app: AppContext, campaign_id: int, off: bool) -> None:
    """Show the campaign in the public archive (once running or finished), or not with --off."""
    async with open_store(app.settings) as store:
        campaign = await store.set_campaign_archive(campaign_id, not off)
    click.echo(f"campaign {campaign.id} is {'' if campaign.archive else 'not '}in the archive")


for _name, _doc in (
    ("schedule", "Schedule a draft or paused campaign for its send time (ahead, or --now)."),
    ("start", "Start a draft, scheduled or paused campaign now."),
    ("pause", "Pause a running campaign (in-flight messages finish; nothing is re-sent)."),
    ("resume", "Resume a paused campaign where it stopped."),
    ("cancel", "Cancel a draft, running, paused or scheduled campaign."),
    ("unschedule", "Turn a scheduled campaign back into a draft."),
):
    campaigns.add_command(_action(_name, _doc))


@campaigns.command("failures")
@click.argument("campaign_id", type=int)
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@async_command
async def failures(app: AppContext, campaign_id: int, as_csv: bool, as_json: bool) -> None:
    """Recipients that failed, are waiting for a retry, or whose outcome is unknown."""
    async with open_store(app.settings) as store:
        await store.get_campaign(campaign_id)
        rows = await store.failures(campaign_id)
    if as_json:
        print_json(rows)
    elif as_csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["email", "status", "attempts", "code", "enhanced", "reason", "server"])
        for f in rows:  # addresses and server replies are attacker-controlled
            out.writerow(
                safe_row(
                    [
                        f.email,
                        f.status.value,
                        f.attempts,
                        f.code or "",
                        f.enhanced or "",
                        f.text,
                        f.server or "",
                    ]
                )
            )
    else:
        print_table(
            ["email", "status", "attempts", "code", "reason", "server"],
            [(f.email, f.status, f.attempts, f.code, f.text[:60], f.server) for f in rows],
        )


@campaigns.command("retry-failed")
@click.argument("campaign_id", type=int)
@pass_app
@async_command
async def retry_failed(app: AppContext, campaign_id: int) -> None:
    """Send again to the recipients that failed permanently (e.g. after fixing a setting)."""
    async with open_store(app.settings) as store:
        count = await lifecycle.retry_failed(store, campaign_id, utcnow())
    click.echo(f"{count} failed recipients queued again for campaign {campaign_id}")


@campaigns.command("preview")
@click.argument("campaign_id", type=int)
@click.option("--subscriber", "email", help="Render for this subscriber (default: sample data).")
@pass_app
@async_command
async def preview(app: AppContext, campaign_id: int, email: str | None) -> None:
    """Print the message a subscriber would get, headers and all."""
    async with open_store(app.settings) as store:
        shown = await preview_message(store, app.settings, campaign_id, email, utcnow())
    click.echo(f"X-Campaignd-Preview: {shown.note}")
    click.echo(shown.message)


@campaigns.command("test")
@click.argument("campaign_id", type=int)
@click.option("--to", "to", multiple=True, required=True, help="Address to send a test to.")
@pass_app
@async_command
async def test(app: AppContext, campaign_id: int, to: tuple[str, ...]) -> None:
    """Send the campaign to test addresses now (real data for known subscribers, else sample
    data); nothing is written to the ledger."""
    from campaignd.messengers.registry import build_messengers

    async with open_store(app.settings) as store:
        results = await send_tests(store, app.settings, campaign_id, to, utcnow(), build_messengers)
    for r in results:
        if r.outcome == "render_failed":
            click.echo(f"{r.email}: not sent, render failed {r.reply}", err=True)
        else:
            click.echo(f"{r.email}: {r.outcome} via {r.server} ({r.reply})")
    if any(r.outcome != "sent" for r in results):
        sys.exit(1)


def _add_manage_commands() -> None:
    from campaignd.cli.campaigns_manage import clone, delete, update

    for command in (update, clone, delete):
        campaigns.add_command(command)


_add_manage_commands()
