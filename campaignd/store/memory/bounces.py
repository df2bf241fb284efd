"""The in-memory BounceStore: recorded bounces, once per provider event."""

from __future__ import annotations

import datetime as dt

from campaignd.errors import NotFound
from campaignd.store.memory.state import MemoryState


class MemoryBounces(MemoryState):
    """add_bounce."""

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
        at = now.astimezone(dt.UTC)
        self._bounces.append((subscriber_id, campaign_id, kind, source, reason[:2000], at))
        return sum(1 for b in self._bounces if b[0] == subscriber_id and b[2] == kind)
