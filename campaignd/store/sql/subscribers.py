"""The SQL SubscriberStore: subscribers, their subscriptions, opt-in (lists: lists.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import links
from campaignd.db import tables as T
from campaignd.db.filters import condition
from campaignd.domain import (
    NewSubscriber,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from campaignd.errors import (
    Conflict,
    NotFound,
)
from campaignd.filters import Node
from campaignd.store.sql.base import UNSUBSCRIBED as _UNSUBSCRIBED
from campaignd.store.sql.base import SqlBase, _require_lists


class SqlSubscribers(SqlBase):
    """Subscribers and opt-in (lists: SqlLists; import_batch: SqlImport)."""

    # -- subscribers -----------------------------------------------------------------------
    async def _subscriber(self, conn: AsyncConnection, where: Any) -> Subscriber | None:
        sl, li = T.subscriptions.c, T.lists.c
        row = (await conn.execute(select(T.subscribers).where(where))).first()
        if row is None:
            return None
        subs = await conn.execute(
            select(sl.list_id, li.name, sl.status)
            .join_from(T.subscriptions, T.lists, li.id == sl.list_id)
            .where(sl.subscriber_id == row.id)
            .order_by(sl.list_id)
        )
        return _subscriber(
            row,
            tuple(Subscription(r.list_id, r.name, SubscriptionStatus(r.status)) for r in subs),
        )

    async def add_subscriber(
        self, subscriber: NewSubscriber, list_ids: Sequence[int], status: SubscriptionStatus
    ) -> Subscriber:
        now = utcnow()
        key = subscriber.email.lower()
        s = T.subscribers.c

        async def fn(conn: AsyncConnection) -> Subscriber:
            if await conn.scalar(select(s.id).where(s.email_key == key)):
                raise Conflict(f"subscriber {subscriber.email} already exists", field="email")
            await _require_lists(conn, list_ids)
            stmt = insert(T.subscribers).values(
                uuid=uuid.uuid4(),
                email=subscriber.email,
                email_key=key,
                name=subscriber.name,
                attributes=dict(subscriber.attributes),
                status=SubscriberStatus.ENABLED.value,
                created_at=now,
                updated_at=now,
            )
            sid = (await conn.execute(stmt.returning(s.id))).scalar_one()
            if list_ids:
                await conn.execute(
                    insert(T.subscriptions),
                    [
                        {
                            "subscriber_id": sid,
                            "list_id": lid,
                            "status": status.value,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for lid in dict.fromkeys(list_ids)
                    ],
                )
            found = await self._subscriber(conn, s.id == sid)
            assert found is not None
            return found

        return await self._tx(fn)

    async def get_subscriber(self, email: str) -> Subscriber:
        async def fn(conn: AsyncConnection) -> Subscriber:
            found = await self._subscriber(conn, T.subscribers.c.email_key == _key(email))
            if found is None:
                raise NotFound(f"no subscriber {email.strip()}")
            return found

        return await self._tx(fn, write=False)

    async def get_subscriber_by_uuid(self, subscriber_uuid: uuid.UUID) -> Subscriber:
        async def fn(conn: AsyncConnection) -> Subscriber:
            found = await self._subscriber(conn, T.subscribers.c.uuid == subscriber_uuid)
            if found is None:
                raise NotFound("no such subscriber")
            return found

        return await self._tx(fn, write=False)

    async def get_subscriber_by_id(self, subscriber_id: int) -> Subscriber:
        async def fn(conn: AsyncConnection) -> Subscriber:
            found = await self._subscriber(conn, T.subscribers.c.id == subscriber_id)
            if found is None:
                raise NotFound(f"no subscriber with id {subscriber_id}")
            return found

        return await self._tx(fn, write=False)

    async def set_subscriber_status(self, email: str, status: SubscriberStatus) -> Subscriber:
        now = utcnow()
        s, sl = T.subscribers.c, T.subscriptions.c

        async def fn(conn: AsyncConnection) -> Subscriber:
            sid = await conn.scalar(select(s.id).where(s.email_key == _key(email)))
            if sid is None:
                raise NotFound(f"no subscriber {email.strip()}")
            await conn.execute(
                update(T.subscribers).where(s.id == sid).values(status=status.value, updated_at=now)
            )
            if status is SubscriberStatus.BLOCKLISTED:
                await conn.execute(
                    update(T.subscriptions)
                    .where(sl.subscriber_id == sid, sl.status != _UNSUBSCRIBED)
                    .values(status=_UNSUBSCRIBED, updated_at=now)
                )
            found = await self._subscriber(conn, s.id == sid)
            assert found is not None
            return found

        return await self._tx(fn)

    async def unsubscribe(self, subscriber_id: int, list_ids: Sequence[int] | None) -> int:
        now = utcnow()
        sl = T.subscriptions.c

        async def fn(conn: AsyncConnection) -> int:
            stmt = update(T.subscriptions).where(
                sl.subscriber_id == subscriber_id, sl.status != _UNSUBSCRIBED
            )
            if list_ids is not None:
                stmt = stmt.where(sl.list_id.in_(list(list_ids)))
            result = await conn.execute(stmt.values(status=_UNSUBSCRIBED, updated_at=now))
            return result.rowcount

        return await self._tx(fn)

    # -- queries -----------------------------------------------------------------------------
    async def query_subscribers(
        self, query: Node | None, after_id: int = 0, limit: int = 100
    ) -> list[Subscriber]:
        s, sl, li = T.subscribers.c, T.subscriptions.c, T.lists.c
        where = condition(query, self.dialect)

        async def fn(conn: AsyncConnection) -> list[Subscriber]:
            page = select(T.subscribers).where(s.id > after_id, where).order_by(s.id).limit(limit)
            rows = (await conn.execute(page)).all()
            if not rows:
                return []
            subs: dict[int, list[Subscription]] = {}
            links_ = await conn.execute(
                select(sl.subscriber_id, sl.list_id, li.name, sl.status)
                .join_from(T.subscriptions, T.lists, li.id == sl.list_id)
                .where(sl.subscriber_id.in_([r.id for r in rows]))
                .order_by(sl.subscriber_id, sl.list_id)
            )
            for r in links_:
                subs.setdefault(r[0], []).append(Subscription(r[1], r[2], SubscriptionStatus(r[3])))
            return [_subscriber(r, tuple(subs.get(r.id, ()))) for r in rows]

        return await self._tx(fn, write=False)

    async def count_subscribers(self, query: Node | None) -> int:
        where = condition(query, self.dialect)

        async def fn(conn: AsyncConnection) -> int:
            stmt = select(func.count()).select_from(T.subscribers).where(where)
            return int(await conn.scalar(stmt) or 0)

        return await self._tx(fn, write=False)

    # -- opt-in ----------------------------------------------------------------------------
    async def confirm_optin(
        self, subscriber_id: int, now: dt.datetime, list_ids: Sequence[int] | None = None
    ) -> int:
        async def fn(conn: AsyncConnection) -> int:
            return await links.confirm_optin(conn, subscriber_id, now, list_ids)

        return await self._tx(fn)

    async def optin_pending(
        self, list_ids: Sequence[int] | None = None, *, after_id: int = 0, limit: int = 500
    ) -> list[Subscriber]:
        async def fn(conn: AsyncConnection) -> list[Subscriber]:
            out = []
            for sid in await links.optin_pending_ids(conn, list_ids, after_id, limit):
                found = await self._subscriber(conn, T.subscribers.c.id == sid)
                if found is not None:
                    out.append(found)
            return out

        return await self._tx(fn, write=False)

    async def mark_optin_sent(self, subscriber_id: int, now: dt.datetime) -> None:
        async def fn(conn: AsyncConnection) -> None:
            await links.mark_optin_sent(conn, subscriber_id, now)

        await self._tx(fn)


def _key(email: str) -> str:
    return email.strip().lower()


def _subscriber(row: Any, subscriptions: tuple[Subscription, ...]) -> Subscriber:
    return Subscriber(
        id=row.id,
        uuid=row.uuid,
        email=row.email,
        name=row.name,
        attributes=row.attributes,
        status=SubscriberStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        subscriptions=subscriptions,
    )
