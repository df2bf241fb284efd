"""Campaign use cases: create (checked before it is stored), operator actions, status summary."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from campaignd.campaigns.segments import check_segment, segment_matches
from campaignd.config import AppSettings
from campaignd.domain import (
    TRACK_OPTIONS,
    BounceCounts,
    Campaign,
    CampaignCounts,
    CampaignStatus,
    ContentType,
    NewCampaign,
    Template,
    utcnow,
)
from campaignd.errors import InvalidInput, TransitionRefused, UnknownMessenger
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
    track: tuple[str, ...]
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
    bounces: BounceCounts = field(default_factory=BounceCounts)  # recorded, by kind
    segment: str | None = None
    segment_matches: int | None = None  # eligible subscribers matching the segment now
    archive: bool = False


def summarize(
    campaign: Campaign,
    counts: CampaignCounts,
    list_names: Mapping[int, str] | None = None,
    bounces: BounceCounts | None = None,
    segment_matches: int | None = None,
) -> CampaignSummary:
    """The summary; `list_names` maps list ids to names (a list deleted since shows as #id);
    `bounces` are the campaign's recorded bounces (BounceStore.bounce_counts), and
    `segment_matches` as segments.segment_matches counts them."""
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
        track=campaign.track,
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
        bounces=bounces or BounceCounts(),
        segment=campaign.segment,
        segment_matches=segment_matches,
        archive=campaign.archive,
    )


def parse_track(text: str) -> tuple[str, ...]:
    """ "opens,clicks" -> ("opens", "clicks"); InvalidInput naming an unknown item."""
    items = [part.strip().lower() for part in text.split(",") if part.strip()]
    for item in items:
        if item not in TRACK_OPTIONS:
            known = ", ".join(TRACK_OPTIONS)
            raise InvalidInput(f"--track {item!r} is not one of {known} (comma-separated)")
    return tuple(t for t in TRACK_OPTIONS if t in items)


async def campaign_summary(
    store: Store, campaign: Campaign, list_names: Mapping[int, str] | None = None
) -> CampaignSummary:
    """`summarize` with the ledger's counts, the recorded bounces and the segment's matches
    read from the store."""
    counts = await store.counts(campaign.id)
    bounces = await store.bounce_counts(campaign.id)
    matches = await segment_matches(store, campaign)
    return summarize(campaign, counts, list_names, bounces, matches)


async def check_new_campaign(
    store: Store, new: NewCampaign, app: AppSettings, messengers: Collection[str]
) -> int | None:
    """Everything that can be checked before a campaign is stored or changed (lists, messenger,
    templates, headers, from); return the template's id. Shared by create and update."""
    from campaignd.rendering.compose import check_campaign

    if not new.name.strip():
        raise InvalidInput("name: must not be empty", field="name")
    if not new.lists:
        raise InvalidInput("a campaign needs at least one list (--list)", field="lists")
    if new.messenger not in messengers:
        known = ", ".join(sorted(messengers)) or "none configured"
        raise UnknownMessenger(f"unknown messenger {new.messenger!r} (configured: {known})")
    for name in new.lists:
        await store.get_list(name)  # NotFound names the list
    if new.segment is not None:
        check_segment(new.segment, (await store.list_names()).values())
    layout = await store.get_template(new.template) if new.template else None
    # Compiling and trial renders take up to template_timeout: off the event loop (the API
    # runs this inside the daemon).
    await asyncio.to_thread(check_campaign, new, layout.body if layout else None, app)
    return layout.id if layout else None


def check_send_at(send_at: dt.datetime | None, now: dt.datetime) -> None:
    """A send time must have a zone and lie ahead: a past one would start at once, which
    `campaigns start` (or `schedule --now`) says plainly."""
    if send_at is None:
        return
    if send_at.tzinfo is None:
        raise InvalidInput(
            "--send-at needs a time zone, e.g. 2026-12-01T09:00:00+01:00", field="send_at"
        )
    if send_at <= now:
        raise InvalidInput(
            f"send time {send_at.isoformat()} is in the past (now is "
            f"{now.isoformat(timespec='seconds')}); to send now use `campaigns start ID` or "
            "`campaigns schedule ID --now`",
            field="send_at",
        )


async def create_campaign(
    store: Store,
    new: NewCampaign,
    app: AppSettings,
    messengers: Collection[str],
    now: dt.datetime | None = None,
) -> Campaign:
    """Check everything that can be checked now (lists, messenger, templates, headers, a send
    time ahead), then store the campaign as a draft; `schedule` or `start` sets it going."""
    check_send_at(new.send_at, now or utcnow())
    template_id = await check_new_campaign(store, new, app, messengers)
    return await store.create_campaign(new, template_id)


async def check_audience(store: Store, campaign: Campaign, action: str) -> int:
    """The number of eligible subscribers; InvalidInput when there is none to send to."""
    count = await store.eligible_count(campaign.id)
    if count == 0:
        names = await store.list_names()
        lists = ", ".join(names.get(i, f"#{i}") for i in campaign.list_ids) or "none"
        raise InvalidInput(
            f"campaign {campaign.id} not {'started' if action == 'start' else 'scheduled'}: "
            f"its lists ({lists}) have 0 eligible subscribers (enabled, subscribed, and "
            "confirmed on double opt-in lists)"
        )
    return count


async def apply_action(
    store: Store,
    campaign_id: int,
    action: str,
    now: dt.datetime,
    send_at: dt.datetime | None = None,
    *,
    app: AppSettings | None = None,
    force: bool = False,
    warn: Callable[[str], None] | None = None,
    at_once: bool = False,
) -> Campaign:
    """schedule | start | pause | resume | cancel | unschedule, with listmonk's transitions;
    a refused one raises TransitionRefused saying why and changes nothing. Start and schedule
    refuse a campaign without an eligible subscriber; schedule refuses a send time passed.

    With `app`, start and schedule run the preflight first: a warning (to `warn`) per
    attribute some recipients lack, and under app.missing_attributes = "fail" InvalidInput
    unless `force`. `at_once` makes schedule a start now (`schedule --now`)."""
    if action == "schedule" and at_once:
        action, send_at = "start", None
    campaign = await store.get_campaign(campaign_id)
    if send_at is not None and send_at.tzinfo is None:
        raise InvalidInput(
            "--send-at needs a time zone, e.g. 2026-12-01T09:00:00+01:00", field="send_at"
        )
    expected, target = check_action(action, campaign.status, send_at or campaign.send_at)
    if action == "schedule":
        check_send_at(send_at or campaign.send_at, now)
    if action in ("start", "schedule"):
        await check_audience(store, campaign, action)
    if app is not None and action in ("start", "schedule"):
        report = await preflight(store, campaign_id, app)
        for line in report.warnings():
            if warn is not None:
                warn(line)
        if report.refused and not force:
            raise report.refusal(action)
    return await store.transition(
        campaign_id, expected, target, now=now, send_at=send_at if action == "schedule" else None
    )


@dataclass(frozen=True, slots=True)
class LackingAttribute:
    """Recipients of a campaign lacking one attribute its templates use."""

    name: str
    missing: int
    fields: tuple[str, ...]  # where the templates use it: subject, body, header X, ...


@dataclass(frozen=True, slots=True)
class Preflight:
    """What `campaigns start`/`schedule` say before sending: attributes some recipients lack."""

    campaign_id: int
    lacking: tuple[LackingAttribute, ...]
    mode: str  # app.missing_attributes

    @property
    def refused(self) -> bool:
        """Under "fail", sending would fail recipients: refuse unless forced."""
        return self.mode == "fail" and bool(self.lacking)

    def warnings(self) -> list[str]:
        effect = "sending to them fails" if self.mode == "fail" else "it renders empty for them"
        return [
            f"warning: {a.missing} recipient{'s' if a.missing > 1 else ''} "
            f"lack{'' if a.missing > 1 else 's'} attribute {a.name!r} "
            f"(used in {', '.join(a.fields)}); {effect}"
            for a in self.lacking
        ]

    def refusal(self, action: str) -> InvalidInput:
        count = len(self.lacking)
        return InvalidInput(
            f"campaign {self.campaign_id} not {'started' if action == 'start' else 'scheduled'}: "
            f"{count} attribute{'s' if count > 1 else ''} the templates use "
            f"{'are' if count > 1 else 'is'} missing for some recipients and "
            'app.missing_attributes = "fail"; give them the attributes, guard the template '
            "({% if subscriber.attributes.x %} or | default(...)), or use --force"
        )


def template_sources(campaign: Campaign, layout: Template | None) -> dict[str, str]:
    """Every template of a campaign by field name: subject, headers, body, alt body, layout."""
    sources = {"subject": campaign.subject}
    sources.update({f"header {name}": value for name, value in campaign.headers})
    sources["body"] = campaign.body
    if campaign.alt_body is not None:
        sources["alt_body"] = campaign.alt_body
    if layout is not None and campaign.content_type is not ContentType.PLAIN:
        sources["template"] = layout.body
    return sources


async def preflight(store: Store, campaign_id: int, app: AppSettings) -> Preflight:
    """Count the recipients still to send lacking each attribute the templates use (found in
    their syntax, see render_attributes); only attributes someone lacks are listed."""
    from campaignd.rendering.attributes import attribute_uses

    campaign = await store.get_campaign(campaign_id)
    layout = (
        await store.get_template_by_id(campaign.template_id)
        if campaign.template_id is not None
        else None
    )
    uses = attribute_uses(template_sources(campaign, layout))
    missing = await store.missing_attributes(campaign_id, list(uses)) if uses else {}
    lacking = tuple(
        LackingAttribute(name, missing[name], fields)
        for name, fields in uses.items()
        if missing.get(name)
    )
    return Preflight(campaign_id, lacking, app.missing_attributes)


async def retry_failed(store: Store, campaign_id: int, now: dt.datetime) -> int:
    """Failed recipients back to pending (a finished campaign runs again); return how many.
    A cancelled campaign is refused."""
    campaign = await store.get_campaign(campaign_id)
    if campaign.status is CampaignStatus.CANCELLED:  # a wrong state: 409 in the API
        raise TransitionRefused(f"campaign {campaign_id} is cancelled")
    count = await store.reset_failed(campaign_id)
    if count and campaign.status is CampaignStatus.FINISHED:
        await store.transition(
            campaign_id, frozenset({CampaignStatus.FINISHED}), CampaignStatus.RUNNING, now=now
        )
    return count
