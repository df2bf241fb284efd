"""The in-memory BounceStore: recorded bounces, once per provider event; counts and listings."""

from __future__ import annotations

import datetime as dt

from campaignd.domain import Bounce, BounceCounts
from campaignd.errors import NotFound
from campaignd.store.memory.state import MemoryState


class MemoryBounces(MemoryState):
    """add_bounce, bounce_counts, bounces."""

    async def add_bounce(
        self,
        subscriber_id: int,
        campaign_id: int | None,
        kind: str,
        source: str,
        reason: str,
        now: dt.datetime,
        event_id: str | None = None,
    ) -> int | None:
        if subscriber_id not in self._subs:
            raise NotFound(f"no subscriber with id {subscriber_id}")
        if event_id is not None:
            if (source, event_id) in self._bounce_events:
                return None
            self._bounce_events.add((source, event_id))
        bounce_id = self._next("bounce")
        row = (
            subscriber_id,
            campaign_id,
            kind,
            source,
            reason[:2000],
            now.astimezone(dt.UTC),
            bounce_id,
        )
        self._bounces.append(row)
        return sum(1 for b in self._bounces if b[0] == subscriber_id and b[2] == kind)

    async def bounce_counts(self, campaign_id: int) -> BounceCounts:
        kinds = [b[2] for b in self._bounces if b[1] == campaign_id]
        return BounceCounts(
            hard=kinds.count("hard"), soft=kinds.count("soft"), complaint=kinds.count("complaint")
        )

    async def bounces(
        self,
        *,
        campaign_id: int | None = None,
        subscriber_id: int | None = None,
        limit: int = 100,
    ) -> list[Bounce]:
        out = []
        for sub_id, camp_id, kind, source, reason, created_at, bounce_id in self._bounces:
            if campaign_id is not None and camp_id != campaign_id:
                continue
            if subscriber_id is not None and sub_id != subscriber_id:
                continue
            sub = self._subs.get(sub_id)
            if sub is None:  # deleted with its subscriber, as the SQL store's cascade
                continue
            camp = self._campaigns.get(camp_id) if camp_id is not None else None
            out.append(
                Bounce(
                    bounce_id,
                    sub_id,
                    sub.email,
                    camp_id,
                    camp.name if camp else None,
                    kind,
                    source,
                    reason,
                    created_at,
                )
            )
        out.sort(key=lambda x: (x.created_at, x.id), reverse=True)
        return out[: max(limit, 0)]
