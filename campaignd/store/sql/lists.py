"""The SQL SubscriberStore's lists: create, read, rename or change, delete when unused."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import campaigns as C
from campaignd.db import tables as T
from campaignd.db.tracking import subscription_days
from campaignd.domain import CampaignStatus, MailingList, OptIn, SubscriptionDay, utcnow
from campaignd.errors import Conflict, NotFound
from campaignd.rules import in_use, name_key
from campaignd.store.sql.base import UNSUBSCRIBED as _UNSUBSCRIBED
from campaignd.store.sql.base import SqlBase

#: pg_advisory_xact_lock key serialising list-name writes ("lists" in ASCII).
_LIST_NAME_LOCK = 0x6C69737473


class SqlLists(SqlBase):
    """Mailing lists with their subscriber counts and their growth per day."""

    async def create_list(
        self, name: str, optin: OptIn, description: str, *, public: bool = False
    ) -> MailingList:
        now = utcnow()
        list_uuid = uuid.uuid4()

        async def fn(conn: AsyncConnection) -> MailingList:
            await _name_free(conn, name)
            stmt = insert(T.lists).values(
                name=name,
                optin=optin.value,
                description=description,
                uuid=list_uuid,
                public=public,
                created_at=now,
                updated_at=now,
            )
            list_id = (await conn.execute(stmt.returning(T.lists.c.id))).scalar_one()
            return MailingList(
                list_id, name, OptIn(optin), description, now, 0, public=public, uuid=list_uuid
            )

        return await self._tx(fn)

    async def set_list_public(self, list_id: int, public: bool) -> MailingList:
        li = T.lists.c

        async def fn(conn: AsyncConnection) -> MailingList:
            changed = await conn.execute(
                update(T.lists).where(li.id == list_id).values(public=public, updated_at=utcnow())
            )
            if changed.rowcount != 1:
                raise NotFound(f"no list with id {list_id}")
            return _list((await conn.execute(self._lists_query().where(li.id == list_id))).one())

        return await self._tx(fn)

    async def update_list(
        self,
        list_id: int,
        *,
        name: str | None = None,
        optin: OptIn | None = None,
        description: str | None = None,
    ) -> MailingList:
        now = utcnow()
        li = T.lists.c
        values: dict[str, Any] = {"updated_at": now}
        if name is not None:
            values["name"] = name
        if optin is not None:
            values["optin"] = OptIn(optin).value
        if description is not None:
            values["description"] = description

        async def fn(conn: AsyncConnection) -> MailingList:
            if name is not None:
                await _name_free(conn, name, but=list_id)
            if (
                await conn.execute(update(T.lists).where(li.id == list_id).values(values))
            ).rowcount != 1:
                raise NotFound(f"no list with id {list_id}")
            return _list((await conn.execute(self._lists_query().where(li.id == list_id))).one())

        return await self._tx(fn)

    async def delete_list(
        self, list_id: int, refuse_when: frozenset[CampaignStatus]
    ) -> MailingList:
        li, cl = T.lists.c, T.campaign_lists.c

        async def fn(conn: AsyncConnection) -> MailingList:
            row = (await conn.execute(self._lists_query().where(li.id == list_id))).first()
            if row is None:
                raise NotFound(f"no list with id {list_id}")
            used = select(cl.campaign_id).where(cl.list_id == list_id)
            using = await C.users(conn, T.campaigns.c.id.in_(used), refuse_when)
            if using:
                raise in_use(f"list {row[1]!r}", using)
            # Explicit, not left to ON DELETE CASCADE: a SQLite connection may lack the pragma.
            await conn.execute(delete(T.subscriptions).where(T.subscriptions.c.list_id == list_id))
            await conn.execute(delete(T.campaign_lists).where(cl.list_id == list_id))
            await conn.execute(delete(T.lists).where(li.id == list_id))
            return _list(row)

        return await self._tx(fn)

    def _lists_query(self) -> Any:
        li, sl = T.lists.c, T.subscriptions.c
        count = (
            select(func.count())
            .where(sl.list_id == li.id, sl.status != _UNSUBSCRIBED)
            .scalar_subquery()
        )
        return select(
            li.id, li.name, li.optin, li.description, li.created_at, count, li.public, li.uuid
        ).order_by(li.id)

    async def get_list(self, name: str) -> MailingList:
        async def fn(conn: AsyncConnection) -> MailingList:
            row = (await conn.execute(self._lists_query().where(T.lists.c.name == name))).first()
            if row is None:
                raise NotFound(f"no list named {name!r}")
            return _list(row)

        return await self._tx(fn, write=False)

    async def lists(self) -> list[MailingList]:
        async def fn(conn: AsyncConnection) -> list[MailingList]:
            return [_list(r) for r in await conn.execute(self._lists_query())]

        return await self._tx(fn, write=False)

    async def list_names(self) -> dict[int, str]:
        async def fn(conn: AsyncConnection) -> dict[int, str]:
            rows = await conn.execute(select(T.lists.c.id, T.lists.c.name))
            return {r[0]: r[1] for r in rows}

        return await self._tx(fn, write=False)

    async def list_growth(self, list_id: int) -> list[SubscriptionDay]:
        async def fn(conn: AsyncConnection) -> list[SubscriptionDay]:
            return await subscription_days(conn, self.dialect, list_id)

        return await self._tx(fn, write=False)


async def _name_free(conn: AsyncConnection, name: str, but: int | None = None) -> None:
    """Conflict if another list has `name` case-insensitively (rules.name_key, which SQL's
    lower() does not match outside ASCII, so the names are compared here; lists are few).
    On PostgreSQL a transaction lock serialises list-name writes so two cannot both pass."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(_LIST_NAME_LOCK)))
    for list_id, existing in await conn.execute(select(T.lists.c.id, T.lists.c.name)):
        if list_id != but and name_key(existing) == name_key(name):
            raise Conflict(
                f"list {existing!r} already exists (list names ignore case)", field="name"
            )


def _list(row: Any) -> MailingList:
    return MailingList(
        id=row[0],
        name=row[1],
        optin=OptIn(row[2]),
        description=row[3],
        created_at=row[4],
        subscriber_count=int(row[5]),
        public=bool(row[6]),
        uuid=row[7],
    )
