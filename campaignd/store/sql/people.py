"""The SQL SubscriberStore's managing part: update, delete, wipe, export pages, personal data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import people
from campaignd.db import tables as T
from campaignd.domain import (
    PersonalData,
    Subscriber,
    SubscriberStatus,
    SubscriberUpdate,
)
from campaignd.errors import Conflict, NotFound
from campaignd.store.sql.base import UNSUBSCRIBED
from campaignd.store.sql.subscribers import SqlSubscribers


class SqlPeople(SqlSubscribers):
    """update_subscriber, subscriber_ids, delete_subscribers, wipe_subscriber, subscribers_page,
    personal_data (the statements: campaignd.db.people)."""

    async def _found(self, conn: AsyncConnection, subscriber_id: int) -> Subscriber:
        found = await self._subscriber(conn, T.subscribers.c.id == subscriber_id)
        if found is None:
            raise NotFound(f"no subscriber with id {subscriber_id}")
        return found

    async def update_subscriber(
        self, subscriber_id: int, change: SubscriberUpdate, now: dt.datetime
    ) -> Subscriber:
        s, sl = T.subscribers.c, T.subscriptions.c
        values: dict[str, Any] = {"updated_at": now}
        if change.email is not None:
            values |= {"email": change.email, "email_key": change.email.lower()}
        if change.name is not None:
            values["name"] = change.name
        if change.attributes is not None:
            values["attributes"] = dict(change.attributes)
        if change.status is not None:
            values["status"] = change.status.value

        async def fn(conn: AsyncConnection) -> Subscriber:
            await self._found(conn, subscriber_id)
            if change.email is not None:
                other = await conn.scalar(
                    select(s.id).where(s.email_key == change.email.lower(), s.id != subscriber_id)
                )
                if other is not None:
                    raise Conflict(f"subscriber {change.email} already exists", field="email")
            await conn.execute(update(T.subscribers).where(s.id == subscriber_id).values(values))
            if change.status is SubscriberStatus.BLOCKLISTED:
                await conn.execute(
                    update(T.subscriptions)
                    .where(sl.subscriber_id == subscriber_id, sl.status != UNSUBSCRIBED)
                    .values(status=UNSUBSCRIBED, updated_at=now)
                )
            return await self._found(conn, subscriber_id)

        return await self._tx(fn)

    async def subscriber_ids(self, emails: Sequence[str]) -> dict[str, int]:
        s = T.subscribers.c
        keys = sorted({e.strip().lower() for e in emails})

        async def fn(conn: AsyncConnection) -> dict[str, int]:
            out: dict[str, int] = {}
            for i in range(0, len(keys), 500):
                rows = await conn.execute(
                    select(s.email_key, s.id).where(s.email_key.in_(keys[i : i + 500]))
                )
                out |= {r[0]: r[1] for r in rows}
            return out

        return await self._tx(fn, write=False)

    async def delete_subscribers(self, subscriber_ids: Sequence[int], now: dt.datetime) -> int:
        async def fn(conn: AsyncConnection) -> int:
            return await people.delete_subscribers(conn, subscriber_ids, now)

        return await self._tx(fn)

    async def wipe_subscriber(self, subscriber_id: int, now: dt.datetime) -> int:
        async def fn(conn: AsyncConnection) -> int:
            if self.dialect == "sqlite":
                # Freed pages are overwritten with zeros: the address does not linger in the file.
                await conn.exec_driver_sql("PRAGMA secure_delete = ON")
            found = await self._found(conn, subscriber_id)
            kept = await people.erase_replies(conn, subscriber_id, found.email)
            await people.delete_subscribers(conn, [subscriber_id], now)
            return kept

        kept = await self._tx(fn)
        if self.dialect == "sqlite":
            await self._checkpoint()
        return kept

    async def _checkpoint(self) -> None:
        """Move the write-ahead log into the database file and empty it (SQLite), so the old
        pages that held an erased address leave the -wal file too (best effort: a reader of
        another process may keep it; the file is removed anyway when the last one closes)."""
        async with self._engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    async def subscribers_page(
        self,
        *,
        after_id: int = 0,
        limit: int = 1000,
        list_id: int | None = None,
        status: SubscriberStatus | None = None,
    ) -> list[Subscriber]:
        async def fn(conn: AsyncConnection) -> list[Subscriber]:
            return await people.page(conn, after_id, limit, list_id, status)

        return await self._tx(fn, write=False)

    async def personal_data(self, subscriber_id: int) -> PersonalData:
        async def fn(conn: AsyncConnection) -> PersonalData:
            found = await self._found(conn, subscriber_id)
            return PersonalData(
                subscriber=found,
                subscriptions=tuple(await people.subscriptions(conn, subscriber_id)),
                deliveries=tuple(await people.deliveries(conn, subscriber_id)),
                bounces=tuple(await people.bounces(conn, subscriber_id)),
                optin_sent_at=await people.optin_sent_at(conn, subscriber_id),
            )

        return await self._tx(fn, write=False)
