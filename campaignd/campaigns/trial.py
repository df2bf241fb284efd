"""Trying a campaign out before it is sent: the preview of one message, test sends to given
addresses (real data for known subscribers, else sample data; nothing in the ledger)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from campaignd.campaigns.lifecycle import template_sources
from campaignd.config import AppSettings, Settings
from campaignd.domain import Campaign, Recipient, Template
from campaignd.errors import InvalidInput, NotFound, TemplateError
from campaignd.messengers.protocol import Messenger
from campaignd.store.protocol import Store

MessengerFactory = Callable[[Settings], Mapping[str, Messenger]]


@dataclass(frozen=True, slots=True)
class Preview:
    """The message as it would be sent, and whose data it shows (the X-Campaignd-Preview line)."""

    note: str
    message: str


@dataclass(frozen=True, slots=True)
class TestSend:
    """What became of one test address."""

    email: str
    outcome: str  # sent | transient | permanent | unknown | render_failed
    server: str | None
    reply: str  # the server's reply, or the template error


async def recipient_for(store: Store, email: str, campaign_id: int) -> Recipient:
    """The subscriber with that address, or sample data for an address not in the database."""
    from campaignd.rendering.compose import sample_recipient

    try:
        sub = await store.get_subscriber(email)
    except NotFound:
        return sample_recipient(email, campaign_id)
    return Recipient(
        ledger_id=0,
        campaign_id=campaign_id,
        subscriber_id=sub.id,
        uuid=sub.uuid,
        email=sub.email,
        name=sub.name,
        attributes=sub.attributes,
        attempts=0,
    )


async def _layout(store: Store, campaign: Campaign) -> Template | None:
    if campaign.template_id is None:
        return None
    return await store.get_template_by_id(campaign.template_id)


async def preview(
    store: Store, settings: Settings, campaign_id: int, email: str | None, now: dt.datetime
) -> Preview:
    """The message for `email` (sample data without one), lacking attributes rendered empty."""
    from campaignd.rendering.compose import CampaignMailer, sample_recipient

    campaign = await store.get_campaign(campaign_id)
    layout = await _layout(store, campaign)
    recipient = (
        await recipient_for(store, email, campaign_id)
        if email
        else sample_recipient(campaign_id=campaign_id)
    )
    shown = settings.app.model_copy(update={"missing_attributes": "blank"})
    mailer = CampaignMailer.prepare(campaign, layout, shown, settings.require_secret())
    _, data = await mailer.build_async(recipient, now)  # a slow render leaves the loop
    note = preview_note(campaign, layout, recipient, email, settings.app)
    return Preview(note, data.decode("utf-8", errors="replace").replace("\r\n", "\n"))


def preview_note(
    campaign: Campaign,
    layout: Template | None,
    recipient: Recipient,
    email: str | None,
    app: AppSettings,
) -> str:
    """Sample data, or whose data and which attributes they lack."""
    from campaignd.rendering.attributes import attribute_uses

    if recipient.subscriber_id == 0:
        why = f"{recipient.email} is not a subscriber" if email else "no --subscriber given"
        return f"sample data ({why}); attribute values are placeholders such as [city]"
    uses = attribute_uses(template_sources(campaign, layout))
    lacking = [name for name in uses if name not in recipient.attributes]
    note = f"data of subscriber {recipient.email}"
    if not lacking:
        return note
    effect = (
        'rendered empty here; sending to this subscriber fails (app.missing_attributes = "fail")'
        if app.missing_attributes == "fail"
        else "rendered empty"
    )
    return (
        f"{note}; lacks attribute{'s' if len(lacking) > 1 else ''} {', '.join(lacking)}: {effect}"
    )


async def send_tests(
    store: Store,
    settings: Settings,
    campaign_id: int,
    to: Sequence[str],
    now: dt.datetime,
    messengers: MessengerFactory,
) -> list[TestSend]:
    """Render and send to each address now; a render failure is reported, the others still go."""
    from campaignd.rendering.compose import CampaignMailer
    from campaignd.rendering.dkim import signer_from_settings

    campaign = await store.get_campaign(campaign_id)
    layout = await _layout(store, campaign)
    recipients = [await recipient_for(store, addr, campaign_id) for addr in to]
    dkim = signer_from_settings(settings.dkim)  # signed as the daemon signs
    mailer = CampaignMailer.prepare(
        campaign, layout, settings.app, settings.require_secret(), dkim=dkim
    )
    built = messengers(settings)
    if campaign.messenger not in built:
        raise InvalidInput(f"messenger {campaign.messenger!r} is not configured")
    results: list[TestSend] = []
    try:
        for recipient in recipients:
            try:
                _, data = await mailer.build_async(recipient, now)  # a slow render leaves the loop
            except TemplateError as exc:
                whose = (
                    f"subscriber #{recipient.subscriber_id}"
                    if recipient.subscriber_id
                    else "sample data"
                )
                results.append(
                    TestSend(recipient.email, "render_failed", None, f"({whose}): {exc}")
                )
                continue
            outcome = await built[campaign.messenger].send(
                mailer.envelope_from, [recipient.email], data, mailer.sign
            )
            reply = f"{outcome.code or ''} {outcome.text}".strip()
            results.append(TestSend(recipient.email, outcome.kind.value, outcome.server, reply))
    finally:
        for m in {id(m): m for m in built.values()}.values():
            await m.close()
    return results
