"""The SQL store's self-service part of SubscriberStore: a subscriber's own subscribing (the
public form, the preference page), renaming, and deletion with everything held."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tables as T
from campaignd.domain import SubscriptionStatus
from campaignd.errors import NotFound
from campaignd.rules import resubscribe
from campaignd.store.sql.base import SqlBase, _require_lists


class SqlSelfService(SqlBase):
    """subscribe, set_subscriber_name (the public form and the preference page)."""

    async def subscribe(self, subscriber_id: int, list_ids: Sequence[int], now: dt.datetime) -> int:
        s, sl = T.subscribers.c, T.subscriptions.c
        wanted = list(dict.fromkeys(list_ids))

        async def fn(conn: AsyncConnection) -> int:
            if await conn.scalar(select(s.id).where(s.id == subscriber_id)) is None:
                raise NotFound("no such subscriber")
            await _require_lists(conn, wanted)
            current = {
                r.list_id: SubscriptionStatus(r.status)
                for r in await conn.execute(
                    select(sl.list_id, sl.status).where(
                        sl.subscriber_id == subscriber_id, sl.list_id.in_(wanted)
                    )
                )
            }
            changed = 0
            for lid in wanted:
                status = resubscribe(current.get(lid))
                if status is None:
                    continue
                if lid in current:
                    await conn.execute(
                        update(T.subscriptions)
                        .where(sl.subscriber_id == subscriber_id, sl.list_id == lid)
                        .values(status=status.value, updated_at=now)
                    )
                else:
                    await conn.execute(
                        insert(T.subscriptions).values(
                            subscriber_id=subscriber_id,
                            list_id=lid,
                            status=status.value,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                changed += 1
            return changed

        return await self._tx(fn)

    async def set_subscriber_name(self, subscriber_id: int, name: str, now: dt.datetime) -> None:
        s = T.subscribers.c

        async def fn(conn: AsyncConnection) -> None:
            result = await conn.execute(
                update(T.subscribers).where(s.id == subscriber_id).values(name=name, updated_at=now)
            )
            if result.rowcount == 0:
                raise NotFound("no such subscriber")

        await self._tx(fn)
