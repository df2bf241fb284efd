"""The SQL BounceStore: recorded bounces, once per provider event."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import links
from campaignd.db import tables as T
from campaignd.errors import (
    Conflict,
    NotFound,
)
from campaignd.store.sql.base import SqlBase


class SqlBounces(SqlBase):
    """add_bounce (the statements: campaignd.db.links)."""

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
