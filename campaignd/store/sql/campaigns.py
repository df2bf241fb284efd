"""The SQL CampaignStore: templates, campaign rows, compare-and-set transitions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import campaigns as C
from campaignd.db import tables as T
from campaignd.db.postgres.notify import notify_transition
from campaignd.domain import (
    Campaign,
    CampaignStatus,
    NewCampaign,
    Template,
    utcnow,
)
from campaignd.errors import (
    Conflict,
    NotFound,
)
from campaignd.rules import in_use
from campaignd.store.sql.base import SqlBase


class SqlCampaigns(SqlBase):
    """Templates and campaigns (the statements: campaignd.db.campaigns)."""

    # -- templates -------------------------------------------------------------------------
    async def add_template(self, name: str, body: str) -> Template:
        now = utcnow()
        t = T.templates.c

        async def fn(conn: AsyncConnection) -> Template:
            if await conn.scalar(select(t.id).where(t.name == name)):
                raise Conflict(f"template {name!r} already exists", field="name")
            stmt = insert(T.templates).values(name=name, body=body, created_at=now, updated_at=now)
            tid = (await conn.execute(stmt.returning(t.id))).scalar_one()
            return Template(tid, name, body, now, now)

        return await self._tx(fn)

    async def _template(self, where: Any, what: str) -> Template:
        t = T.templates.c

        async def fn(conn: AsyncConnection) -> Template:
            query = select(t.id, t.name, t.body, t.created_at, t.updated_at).where(where)
            row = (await conn.execute(query)).first()
            if row is None:
                raise NotFound(f"no template {what}")
            return Template(row.id, row.name, row.body, row.created_at, row.updated_at)

        return await self._tx(fn, write=False)

    async def get_template(self, name: str) -> Template:
        return await self._template(T.templates.c.name == name, f"named {name!r}")

    async def get_template_by_id(self, template_id: int) -> Template:
        return await self._template(T.templates.c.id == template_id, f"with id {template_id}")

    async def templates(self) -> list[Template]:
        t = T.templates.c

        async def fn(conn: AsyncConnection) -> list[Template]:
            query = select(t.id, t.name, t.body, t.created_at, t.updated_at).order_by(t.id)
            rows = await conn.execute(query)
            return [Template(r.id, r.name, r.body, r.created_at, r.updated_at) for r in rows]

        return await self._tx(fn, write=False)

    async def update_template(self, template_id: int, body: str) -> Template:
        now = utcnow()
        t = T.templates.c

        async def fn(conn: AsyncConnection) -> None:
            stmt = update(T.templates).where(t.id == template_id).values(body=body, updated_at=now)
            if (await conn.execute(stmt)).rowcount != 1:
                raise NotFound(f"no template with id {template_id}")

        await self._tx(fn)
        return await self.get_template_by_id(template_id)

    async def delete_template(
        self, template_id: int, refuse_when: frozenset[CampaignStatus]
    ) -> Template:
        current = await self.get_template_by_id(template_id)

        async def fn(conn: AsyncConnection) -> None:
            using = await C.users(conn, T.campaigns.c.template_id == template_id, refuse_when)
            if using:
                raise in_use(f"template {current.name!r}", using)
            stmt = delete(T.templates).where(T.templates.c.id == template_id)
            if (await conn.execute(stmt)).rowcount != 1:
                raise NotFound(f"no template with id {template_id}")

        await self._tx(fn)
        return current

    # -- campaigns -------------------------------------------------------------------------
    async def create_campaign(self, campaign: NewCampaign, template_id: int | None) -> Campaign:
        now = utcnow()

        async def fn(conn: AsyncConnection) -> Campaign:
            return await C.create(conn, campaign, template_id, now)

        return await self._tx(fn)

    async def update_campaign(
        self,
        campaign_id: int,
        campaign: NewCampaign,
        template_id: int | None,
        allowed: frozenset[CampaignStatus],
    ) -> Campaign:
        now = utcnow()

        async def fn(conn: AsyncConnection) -> Campaign:
            return await C.update_campaign(conn, campaign_id, campaign, template_id, allowed, now)

        return await self._tx(fn)

    async def delete_campaign(
        self, campaign_id: int, allowed: frozenset[CampaignStatus]
    ) -> Campaign:
        async def fn(conn: AsyncConnection) -> Campaign:
            return await C.delete_campaign(conn, campaign_id, allowed)

        return await self._tx(fn)

    async def get_campaign(self, campaign_id: int) -> Campaign:
        async def fn(conn: AsyncConnection) -> Campaign:
            return await C.get(conn, campaign_id)

        return await self._tx(fn, write=False)

    async def get_campaign_by_uuid(self, campaign_uuid: uuid.UUID) -> Campaign:
        c = T.campaigns.c

        async def fn(conn: AsyncConnection) -> Campaign:
            cid = await conn.scalar(select(c.id).where(c.uuid == campaign_uuid))
            if cid is None:
                raise NotFound("no such campaign")
            return await C.get(conn, cid)

        return await self._tx(fn, write=False)

    async def _campaigns(self, where: Any = None) -> list[Campaign]:
        async def fn(conn: AsyncConnection) -> list[Campaign]:
            return await C.select_campaigns(conn, where)

        return await self._tx(fn, write=False)

    async def campaigns(self) -> list[Campaign]:
        return await self._campaigns()

    async def set_campaign_archive(self, campaign_id: int, archive: bool) -> Campaign:
        c = T.campaigns.c

        async def fn(conn: AsyncConnection) -> Campaign:
            await conn.execute(
                update(T.campaigns)
                .where(c.id == campaign_id, c.archive != archive)
                .values(archive=archive, updated_at=utcnow())
            )
            return await C.get(conn, campaign_id)

        return await self._tx(fn)

    async def transition(
        self,
        campaign_id: int,
        expected: frozenset[CampaignStatus],
        to: CampaignStatus,
        *,
        now: dt.datetime,
        send_at: dt.datetime | None = None,
        reason: str | None = None,
    ) -> Campaign:
        async def fn(conn: AsyncConnection) -> Campaign:
            changed = await C.transition(conn, campaign_id, expected, to, now, send_at, reason)
            if self.dialect == "postgresql":  # every daemon's tick wakes (db/postgres/notify.py)
                await notify_transition(conn, campaign_id, to.value)
            return changed

        return await self._tx(fn)

    async def due_campaigns(self, now: dt.datetime) -> list[Campaign]:
        c = T.campaigns.c
        return await self._campaigns(
            (c.status == CampaignStatus.SCHEDULED.value) & (c.send_at <= now)
        )

    async def running_campaigns(self) -> list[Campaign]:
        return await self._campaigns(T.campaigns.c.status == CampaignStatus.RUNNING.value)
