"""The SQL BounceStore: recorded bounces, once per provider event; counts and listings."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import links
from campaignd.db import tables as T
from campaignd.db.types import to_utc
from campaignd.domain import Bounce, BounceCounts
from campaignd.errors import (
    Conflict,
    NotFound,
)
from campaignd.store.sql.base import SqlBase


class SqlBounces(SqlBase):
    """add_bounce (the statements: campaignd.db.links), bounce_counts, bounces."""

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
        async def fn(conn: AsyncConnection) -> int | None:
            if (
                await conn.scalar(
                    select(T.subscribers.c.id).where(T.subscribers.c.id == subscriber_id)
                )
                is None
            ):
                raise NotFound(f"no subscriber with id {subscriber_id}")
            return await links.add_bounce(
                conn, subscriber_id, campaign_id, kind, source, reason, now, event_id
            )

        try:
            return await self._tx(fn)
        except Conflict:
            if event_id is None:
                raise
            return None  # the same event, recorded by a concurrent delivery of the webhook

    async def bounce_counts(self, campaign_id: int) -> BounceCounts:
        b = T.bounces.c

        async def fn(conn: AsyncConnection) -> BounceCounts:
            rows = await conn.execute(
                select(b.type, func.count()).where(b.campaign_id == campaign_id).group_by(b.type)
            )
            by_kind = {str(kind): int(n) for kind, n in rows}
            return BounceCounts(
                hard=by_kind.get("hard", 0),
                soft=by_kind.get("soft", 0),
                complaint=by_kind.get("complaint", 0),
            )

        return await self._tx(fn, write=False)

    async def bounces(
        self,
        *,
        campaign_id: int | None = None,
        subscriber_id: int | None = None,
        limit: int = 100,
    ) -> list[Bounce]:
        b, s, c = T.bounces.c, T.subscribers.c, T.campaigns.c
        query = (
            select(
                b.id,
                b.subscriber_id,
                s.email,
                b.campaign_id,
                c.name,
                b.type,
                b.source,
                b.reason,
                b.created_at,
            )
            .select_from(
                T.bounces.join(T.subscribers, s.id == b.subscriber_id).outerjoin(
                    T.campaigns, c.id == b.campaign_id
                )
            )
            .order_by(b.created_at.desc(), b.id.desc())
            .limit(max(limit, 0))
        )
        if campaign_id is not None:
            query = query.where(b.campaign_id == campaign_id)
        if subscriber_id is not None:
            query = query.where(b.subscriber_id == subscriber_id)

        async def fn(conn: AsyncConnection) -> list[Bounce]:
            rows = await conn.execute(query)
            return [
                Bounce(
                    id=row[0],
                    subscriber_id=row[1],
                    email=row[2],
                    campaign_id=row[3],
                    campaign_name=row[4],
                    kind=row[5],
                    source=row[6],
                    reason=row[7],
                    created_at=_aware(row[8]),
                )
                for row in rows
            ]

        return await self._tx(fn, write=False)


def _aware(value: dt.datetime) -> dt.datetime:
    out = to_utc(value)
    assert out is not None  # created_at is NOT NULL
    return out
