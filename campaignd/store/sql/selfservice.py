"""The SQL store's self-service part of SubscriberStore: a subscriber's own subscribing (the
public form, the preference page), renaming, and deletion with everything held."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tables as T
from campaignd.domain import DeliveryStatus, SubscriberHistory, SubscriptionStatus
from campaignd.errors import NotFound
from campaignd.rules import resubscribe
from campaignd.store.sql.base import SqlBase, _require_lists


class SqlSelfService(SqlBase):
    """subscribe, set_subscriber_name, subscriber_history, delete_subscriber."""

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

    async def subscriber_history(self, subscriber_id: int) -> SubscriberHistory:
        d, c, b = T.deliveries.c, T.campaigns.c, T.bounces.c

        async def fn(conn: AsyncConnection) -> SubscriberHistory:
            rows = await conn.execute(
                select(c.name, d.status, d.updated_at)
                .join_from(T.deliveries, T.campaigns, c.id == d.campaign_id)
                .where(d.subscriber_id == subscriber_id)
                .order_by(d.id)
            )
            deliveries = tuple((r[0], DeliveryStatus(r[1]), r[2]) for r in rows)
            found = await conn.execute(
                select(b.type, b.source, b.reason, b.created_at)
                .where(b.subscriber_id == subscriber_id)
                .order_by(b.id)
            )
            return SubscriberHistory(deliveries, tuple((r[0], r[1], r[2], r[3]) for r in found))

        return await self._tx(fn, write=False)

    async def delete_subscriber(self, subscriber_id: int) -> bool:
        async def fn(conn: AsyncConnection) -> bool:
            for table in (T.subscriptions, T.bounces, T.optin_sends, T.deliveries):
                await conn.execute(delete(table).where(table.c.subscriber_id == subscriber_id))
            result = await conn.execute(
                delete(T.subscribers).where(T.subscribers.c.id == subscriber_id)
            )
            return bool(result.rowcount)

        return await self._tx(fn)
