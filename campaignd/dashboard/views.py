"""What the dashboard shows: campaign rows with send rate and ETA, and time-series charts
(a campaign's sending and hits, a list's growth)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from campaignd.domain import Campaign, CampaignStatus, LedgerPoint
from campaignd.store.protocol import Store

#: The send rate is measured over this last stretch of the ledger.
RATE_WINDOW = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class CampaignRow:
    id: int
    name: str
    status: str
    to_send: int
    sent: int
    failed: int
    unknown: int
    remaining: int
    rate: float | None  # messages per minute, running campaigns only
    eta: int | None  # seconds left at that rate

    def cells(self) -> dict[str, str]:
        """The row's cells as the page shows them (the live script swaps these texts)."""
        return {
            "status": self.status,
            "to_send": str(self.to_send),
            "sent": str(self.sent),
            "failed": str(self.failed),
            "unknown": str(self.unknown),
            "remaining": str(self.remaining),
            "rate": "-" if self.rate is None else f"{self.rate:.1f}/min",
            "eta": "-" if self.eta is None else _duration(self.eta),
        }


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def send_rate(ledger: Sequence[LedgerPoint], now: dt.datetime) -> float | None:
    """Messages finished (sent, failed or unknown) per minute over the last RATE_WINDOW."""
    since = now - RATE_WINDOW
    recent = [p for p in ledger if p.minute + dt.timedelta(minutes=1) > since]
    if not recent:
        return None
    start = max(since, min(p.minute for p in recent))
    seconds = max((now - start).total_seconds(), 1.0)
    return sum(p.count for p in recent) * 60.0 / seconds


async def campaign_row(store: Store, campaign: Campaign, now: dt.datetime) -> CampaignRow:
    counts = await store.counts(campaign.id)
    rate = eta = None
    if campaign.status is CampaignStatus.RUNNING:
        rate = send_rate(await store.ledger_series(campaign.id), now)
        if rate:
            eta = round(counts.remaining * 60 / rate)
    return CampaignRow(
        campaign.id,
        campaign.name,
        campaign.status.value,
        counts.to_send,
        counts.sent,
        counts.failed,
        counts.unknown,
        counts.remaining,
        None if rate is None else round(rate, 2),
        eta,
    )


async def campaign_rows(store: Store, now: dt.datetime, limit: int = 100) -> list[CampaignRow]:
    """The newest `limit` campaigns, newest first, with exact counts from the ledger."""
    found = sorted(await store.campaigns(), key=lambda c: c.id, reverse=True)[:limit]
    return [await campaign_row(store, c, now) for c in found]


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    colour: str
    points: str  # SVG polyline points


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    top: int  # the value at the top edge
    first: str
    last: str
    lines: tuple[Line, ...]


_COLOURS = {
    "sent": "#2a7",
    "failed": "#c33",
    "opens": "#36c",
    "clicks": "#c80",
    "subscribed": "#2a7",
    "unsubscribed": "#c33",
    "total": "#36c",
}


class Point(Protocol):
    """A point of a series: the start of its bucket, and the counted fields as attributes."""

    @property
    def at(self) -> str: ...


def chart(series: Sequence[Point], fields: Sequence[str]) -> Chart | None:
    """Polylines of `fields` over the series' buckets (None when there is nothing to draw)."""
    if not series:
        return None
    width, height = 600, 160
    top = max(1, *(int(getattr(p, f)) for p in series for f in fields))
    step = width / max(1, len(series) - 1)
    lines = []
    for f in fields:
        pts = " ".join(
            f"{i * step:.1f},{height - int(getattr(p, f)) * height / top:.1f}"
            for i, p in enumerate(series)
        )
        lines.append(Line(f, _COLOURS.get(f, "#555"), pts))
    return Chart(width, height, top, series[0].at, series[-1].at, tuple(lines))
