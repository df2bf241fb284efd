"""Campaign statistics (use case): the ledger's exact counts beside bounces, unsubscribes, opens
and clicks, their rates, clicks per link, and a time series.

Opens and clicks count people apart from machines (campaignd.campaigns.hits). Unique opens
and clicks (distinct subscribers) exist only in [tracking] mode "individual": the anonymous mode
keeps no subscriber, so they are None there and the rates are None too; ``opens`` and
``clicks`` (every hit by a person) are kept in every mode. Rates are per message sent.

The time series is per minute while the campaign sends and for an hour after its last event,
per hour after that (``bucket``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from campaignd.domain import (
    TRACK_OPTIONS,
    CampaignStatus,
    DeliveryStatus,
    HitCount,
    HitKind,
    LedgerPoint,
    TrackingMode,
)
from campaignd.store.protocol import Store

#: Minute buckets for this long after the last sent message or hit, hours afterwards.
RECENT = dt.timedelta(hours=1)
_LIVE = frozenset({CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED})


@dataclass(frozen=True, slots=True)
class LinkStats:
    url: str
    clicks: int
    machine_clicks: int


@dataclass(slots=True)
class SeriesPoint:
    at: str  # ISO-8601 start of the bucket
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    opens: int = 0
    clicks: int = 0
    machine_opens: int = 0
    machine_clicks: int = 0
    unsubscribes: int = 0


@dataclass(frozen=True, slots=True)
class CampaignStats:
    id: int
    name: str
    status: str
    tracking: str  # the [tracking] mode now
    track: tuple[str, ...]  # what the campaign asked for: "opens", "clicks"
    to_send: int
    sent: int
    failed: int
    unknown: int
    skipped: int
    bounced_hard: int
    bounced_soft: int
    complaints: int
    unsubscribes: int
    opens: int
    machine_opens: int
    unique_opens: int | None
    unique_machine_opens: int | None
    open_rate: float | None
    clicks: int
    machine_clicks: int
    unique_clicks: int | None
    unique_machine_clicks: int | None
    click_rate: float | None
    bucket: str  # "minute" or "hour"
    links: tuple[LinkStats, ...] = ()
    series: tuple[SeriesPoint, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _rate(part: int | None, whole: int) -> float | None:
    if part is None or whole <= 0:
        return None
    return round(part / whole, 4)


def _links(counts: list[HitCount]) -> tuple[LinkStats, ...]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in counts:
        if c.kind is HitKind.CLICK:
            per[c.url][1 if c.machine else 0] += c.hits
    ordered = sorted(per.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
    return tuple(LinkStats(url, human, machine) for url, (human, machine) in ordered)


def _bucket_of(
    status: CampaignStatus, ledger: list[LedgerPoint], counts: list[HitCount], now: dt.datetime
) -> str:
    last = max([p.minute for p in ledger] + [c.minute for c in counts], default=None)
    if status in _LIVE or last is None or now - last < RECENT:
        return "minute"
    return "hour"


def series(
    ledger: list[LedgerPoint], counts: list[HitCount], bucket: str
) -> tuple[SeriesPoint, ...]:
    """Ledger outcomes and hits per minute (or hour), in time order; empty buckets left out."""

    def key(at: dt.datetime) -> dt.datetime:
        return at.replace(minute=0) if bucket == "hour" else at

    points: dict[dt.datetime, SeriesPoint] = {}

    def point(at: dt.datetime) -> SeriesPoint:
        k = key(at)
        if k not in points:
            points[k] = SeriesPoint(k.isoformat())
        return points[k]

    for p in ledger:
        target = point(p.minute)
        if p.status is DeliveryStatus.SENT:
            target.sent += p.count
        elif p.status is DeliveryStatus.FAILED:
            target.failed += p.count
        elif p.status is DeliveryStatus.UNKNOWN:
            target.unknown += p.count
    for c in counts:
        target = point(c.minute)
        if c.kind is HitKind.UNSUBSCRIBE:
            target.unsubscribes += c.hits
            continue
        name = "opens" if c.kind is HitKind.OPEN else "clicks"
        name = f"machine_{name}" if c.machine else name
        setattr(target, name, getattr(target, name) + c.hits)
    return tuple(points[k] for k in sorted(points))


async def campaign_stats(
    store: Store, campaign_id: int, mode: TrackingMode, now: dt.datetime
) -> CampaignStats:
    """The statistics of one campaign (NotFound for an unknown id)."""
    campaign = await store.get_campaign(campaign_id)
    counts = await store.counts(campaign_id)
    bounces = await store.bounce_counts(campaign_id)
    hits = await store.hit_counts(campaign_id)
    ledger = await store.ledger_series(campaign_id)
    people = await store.unique_hitters(campaign_id)
    total: dict[tuple[HitKind, bool], int] = defaultdict(int)
    for c in hits:
        total[(c.kind, c.machine)] += c.hits
    individual = mode is TrackingMode.INDIVIDUAL

    def unique(kind: HitKind, machine: bool) -> int | None:
        return people.get((kind, machine), 0) if individual else None

    bucket = _bucket_of(campaign.status, ledger, hits, now)
    return CampaignStats(
        id=campaign.id,
        name=campaign.name,
        status=campaign.status.value,
        tracking=mode.value,
        track=tuple(t for t in campaign.track if t in TRACK_OPTIONS),
        to_send=counts.to_send,
        sent=counts.sent,
        failed=counts.failed,
        unknown=counts.unknown,
        skipped=counts.skipped,
        bounced_hard=bounces.hard,
        bounced_soft=bounces.soft,
        complaints=bounces.complaint,
        unsubscribes=total[(HitKind.UNSUBSCRIBE, False)] + total[(HitKind.UNSUBSCRIBE, True)],
        opens=total[(HitKind.OPEN, False)],
        machine_opens=total[(HitKind.OPEN, True)],
        unique_opens=unique(HitKind.OPEN, False),
        unique_machine_opens=unique(HitKind.OPEN, True),
        open_rate=_rate(unique(HitKind.OPEN, False), counts.sent),
        clicks=total[(HitKind.CLICK, False)],
        machine_clicks=total[(HitKind.CLICK, True)],
        unique_clicks=unique(HitKind.CLICK, False),
        unique_machine_clicks=unique(HitKind.CLICK, True),
        click_rate=_rate(unique(HitKind.CLICK, False), counts.sent),
        bucket=bucket,
        links=_links(hits),
        series=series(ledger, hits, bucket),
    )
