"""The in-memory TrackingStore: hits counted per minute, per-subscriber rows, the figures."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

from campaignd.domain import DeliveryStatus, Hit, HitCount, HitKind, LedgerPoint
from campaignd.store.memory.state import MemoryState

_FINAL = frozenset({DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN})


def _minute(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(second=0, microsecond=0)


class MemoryTracking(MemoryState):
    """record_hits, hit_counts, unique_hitters, ledger_series."""

    async def record_hits(self, hits: Sequence[Hit]) -> None:
        counts, people = self._hit_counts, self._hit_people
        for h in hits:
            counts[(h.campaign_id, h.kind, h.machine, h.url, _minute(h.at))] += 1
            if h.subscriber_id is not None:
                people.add((h.campaign_id, h.kind, h.machine, h.subscriber_id))

    async def hit_counts(self, campaign_id: int) -> list[HitCount]:
        found = [
            HitCount(kind, machine, url, at, n)
            for (cid, kind, machine, url, at), n in self._hit_counts.items()
            if cid == campaign_id
        ]
        return sorted(found, key=lambda c: (c.minute, c.kind.value, c.machine, c.url))

    async def unique_hitters(self, campaign_id: int) -> dict[tuple[HitKind, bool], int]:
        out: Counter[tuple[HitKind, bool]] = Counter()
        for cid, kind, machine, _sid in self._hit_people:
            if cid == campaign_id:
                out[(kind, machine)] += 1
        return dict(out)

    async def ledger_series(self, campaign_id: int) -> list[LedgerPoint]:
        out: Counter[tuple[dt.datetime, DeliveryStatus]] = Counter()
        for row in self._ledger.values():
            if row.campaign_id == campaign_id and row.status in _FINAL and row.updated_at:
                out[(_minute(row.updated_at), row.status)] += 1
        points = [LedgerPoint(at, status, n) for (at, status), n in out.items()]
        return sorted(points, key=lambda p: (p.minute, p.status.value))
