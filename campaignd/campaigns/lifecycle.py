"""Campaign use cases: create (checked before it is stored), operator actions, status summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from campaignd.config import AppSettings
from campaignd.domain import Campaign, CampaignCounts, NewCampaign
from campaignd.errors import InvalidInput, UnknownMessenger
from campaignd.policy import check_action
from campaignd.store.protocol import Store


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    """What `campaigns show` reports: the campaign and exact counts from the ledger."""

    id: int
    uuid: str
    name: str
    subject: str
    from_email: str
    status: str
    messenger: str
    lists: tuple[int, ...]
    list_names: tuple[str, ...]
    tags: tuple[str, ...]
    send_at: str | None
    started_at: str | None
    finished_at: str | None
    pause_reason: str | None
    send_errors: int
    to_send: int
    sent: int
    failed: int
    unknown: int
    skipped: int
    pending: int
    deferred: int
    in_flight: int


def summarize(
    campaign: Campaign, counts: CampaignCounts, list_names: Mapping[int, str] | None = None
) -> CampaignSummary:
    """The summary; `list_names` maps list ids to names (a list deleted since shows as #id)."""
    names = list_names or {}

    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return CampaignSummary(
        id=campaign.id,
        uuid=str(campaign.uuid),
        name=campaign.name,
        subject=campaign.subject,
        from_email=campaign.from_email,
        status=campaign.status.value,
        messenger=campaign.messenger,
        lists=campaign.list_ids,
        list_names=tuple(names.get(i, f"#{i}") for i in campaign.list_ids),
        tags=campaign.tags,
        send_at=iso(campaign.send_at),
        started_at=iso(campaign.started_at),
        finished_at=iso(campaign.finished_at),
        pause_reason=campaign.pause_reason,
        send_errors=campaign.send_errors,
        to_send=counts.to_send,
        sent=counts.sent,
        failed=counts.failed,
        unknown=counts.unknown,
        skipped=counts.skipped,
        pending=counts.pending,
        deferred=counts.deferred,
        in_flight=counts.claimed,
    )


async def create_campaign(
    store: Store, new: NewCampaign, app: AppSettings, messengers: Collection[str]
) -> Campaign:
    """Check everything that can be checked now (lists, messenger, templates, headers), then
    store the campaign as a draft; `schedule` or `start` sets it going."""
    from campaignd.rendering.compose import check_campaign

    if not new.lists:
        raise InvalidInput("a campaign needs at least one list (--list)")
    if new.messenger not in messengers:
        known = ", ".join(sorted(messengers)) or "none configured"
        raise UnknownMessenger(f"unknown messenger {new.messenger!r} (configured: {known})")
    for name in new.lists:
        await store.get_list(name)  # NotFound names the list
    layout = await store.get_template(new.template) if new.template else None
    check_campaign(new, layout.body if layout else None, app)
    return await store.create_campaign(new, layout.id if layout else None)


async def apply_action(
    store: Store,
    campaign_id: int,
    action: str,
    now: dt.datetime,
    send_at: dt.datetime | None = None,
) -> Campaign:
    """schedule | start | pause | resume | cancel | unschedule, with listmonk's transitions;
    a refused one raises TransitionRefused saying why and changes nothing."""
    campaign = await store.get_campaign(campaign_id)
    if send_at is not None and send_at.tzinfo is None:
        raise InvalidInput("--send-at needs a time zone, e.g. 2026-12-01T09:00:00+01:00")
    expected, target = check_action(action, campaign.status, send_at or campaign.send_at)
    return await store.transition(
        campaign_id, expected, target, now=now, send_at=send_at if action == "schedule" else None
    )
