"""`campaignd campaigns update`, `clone` and `delete`: thin commands over campaigns.manage."""

from __future__ import annotations

from pathlib import Path

import click

from campaignd.campaigns.lifecycle import campaign_summary
from campaignd.campaigns.manage import (
    CampaignChanges,
    check_deletable,
    clone_campaign,
    delete_campaign,
    update_campaign,
)
from campaignd.cli.ask import confirm
from campaignd.cli.campaign_input import FILE, parse_header, parse_when, read_file
from campaignd.cli.common import AppContext, async_command, open_store, pass_app, print_json
from campaignd.domain import Campaign, ContentType, utcnow
from campaignd.errors import InvalidInput
from campaignd.store.protocol import Store


def _one_of(option: str, text: str | None, path: Path | None) -> str | None:
    if text is not None and path is not None:
        raise InvalidInput(f"give --{option} or --{option}-file, not both")
    return text if path is None else read_file(path)


async def _print(store: Store, campaign: Campaign, as_json: bool, what: str) -> None:
    if as_json:
        names = await store.list_names()
        print_json(await campaign_summary(store, campaign, names))
    else:
        click.echo(f"campaign {campaign.id} {what} ({campaign.status.value})")


@click.command("update")
@click.argument("campaign_id", type=int)
@click.option("--name", help="Internal name.")
@click.option("--subject", help="Subject line (a template).")
@click.option("--from", "from_email", help="From address.")
@click.option("--list", "lists", multiple=True, help="A list to send to (replaces all lists).")
@click.option("--body", help="The body (a template).")
@click.option("--body-file", type=FILE, help="The body from a file.")
@click.option("--alt-body", help="Plain-text alternative; '' derives it from the body again.")
@click.option("--alt-body-file", type=FILE, help="Plain-text alternative from a file.")
@click.option("--content-type", type=click.Choice([c.value for c in ContentType]))
@click.option("--template", help="A layout (see `templates add`); '' for none.")
@click.option("--messenger", help="A configured messenger.")
@click.option("--header", "headers", multiple=True, help="'Name: value' (replaces all headers).")
@click.option("--no-headers", is_flag=True, help="Remove every custom header.")
@click.option("--tag", "tags", multiple=True, help="A tag (replaces all tags).")
@click.option("--send-at", help="ISO-8601 time with zone, ahead of now.")
@click.option("--segment", help="A filter expression (docs/filters.md); '' for none.")
@click.option("--json", "as_json", is_flag=True, help="Print the campaign as JSON.")
@pass_app
@async_command
async def update(
    app: AppContext,
    campaign_id: int,
    name: str | None,
    subject: str | None,
    from_email: str | None,
    lists: tuple[str, ...],
    body: str | None,
    body_file: Path | None,
    alt_body: str | None,
    alt_body_file: Path | None,
    content_type: str | None,
    template: str | None,
    messenger: str | None,
    headers: tuple[str, ...],
    no_headers: bool,
    tags: tuple[str, ...],
    send_at: str | None,
    segment: str | None,
    as_json: bool,
) -> None:
    """Change a draft, scheduled or paused campaign; checked exactly like `create`. Running,
    finished and cancelled campaigns are refused (pause a running one first)."""
    from campaignd.messengers.registry import messenger_names

    if headers and no_headers:
        raise InvalidInput("give --header or --no-headers, not both")
    changes = CampaignChanges(
        name=name,
        subject=subject,
        from_email=from_email,
        body=_one_of("body", body, body_file),
        alt_body=_one_of("alt-body", alt_body, alt_body_file),
        content_type=None if content_type is None else ContentType(content_type),
        lists=tuple(dict.fromkeys(lists)) or None,
        template=template,
        messenger=messenger,
        headers=() if no_headers else (tuple(parse_header(h) for h in headers) or None),
        tags=tuple(dict.fromkeys(tags)) or None,
        send_at=parse_when(send_at),
        segment=segment,
    )
    settings = app.settings
    async with open_store(settings) as store:
        updated = await update_campaign(
            store, campaign_id, changes, settings.app, messenger_names(settings), utcnow()
        )
        await _print(store, updated, as_json, "updated")


@click.command("clone")
@click.argument("campaign_id", type=int)
@click.option("--name", help='Name of the copy (default: "Copy of NAME").')
@click.option("--json", "as_json", is_flag=True, help="Print the new campaign as JSON.")
@pass_app
@async_command
async def clone(app: AppContext, campaign_id: int, name: str | None, as_json: bool) -> None:
    """Copy a campaign (any status) into a new draft; print the new id."""
    from campaignd.messengers.registry import messenger_names

    settings = app.settings
    async with open_store(settings) as store:
        copy = await clone_campaign(
            store, campaign_id, settings.app, messenger_names(settings), utcnow(), name
        )
        if as_json:
            await _print(store, copy, True, "")
        else:
            click.echo(copy.id)


@click.command("delete")
@click.argument("campaign_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
@async_command
async def delete(app: AppContext, campaign_id: int, yes: bool) -> None:
    """Delete a draft, finished or cancelled campaign and its ledger rows (who was sent what);
    bounces stay on the subscribers. Running, paused and scheduled ones: cancel them first."""
    async with open_store(app.settings) as store:
        found = await store.get_campaign(campaign_id)
        check_deletable(found)
        rows = (await store.counts(campaign_id)).to_send
        confirm(
            f"Delete campaign {found.id} {found.name!r} ({found.status.value}) and its "
            f"{rows} ledger row(s)?",
            yes,
        )
        deleted = await delete_campaign(store, campaign_id)
    click.echo(f"deleted campaign {deleted.id} {deleted.name!r}")
