"""The SQL LedgerStore: fill, claims, outcomes and counts of the delivery ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import audience, claims, outcomes
from campaignd.db import campaigns as C
from campaignd.db import tables as T
from campaignd.domain import (
    CampaignCounts,
    DeliveryRecord,
    Failure,
    Recipient,
    utcnow,
)
from campaignd.errors import NotFound
from campaignd.filters import parse
from campaignd.store.sql.base import SqlBase, log


class SqlLedger(SqlBase):
    """The ledger (the statements: campaignd.db.ledger, claims, outcomes); on a SQLite file the
    claims and the recorder's commits take the stdlib fast path (campaignd.db.sqlite.direct)."""

    # -- filling ---------------------------------------------------------------------------
    async def populate_ledger(
        self, campaign_id: int, now: dt.datetime, *, after: int = 0, upto: int | None = None
    ) -> int:
        c = T.campaigns.c

        async def fn(conn: AsyncConnection) -> int:
            found = (await conn.execute(select(c.id, c.segment).where(c.id == campaign_id))).first()
            if found is None:
                raise NotFound(f"no campaign {campaign_id}")
            if found.segment:
                return await self._ledger.populate_segment(
                    conn, campaign_id, found.segment, now, after, upto
                )
            return await self._ledger.populate(conn, campaign_id, now, after, upto)

        count = await self._tx(fn)
        # Chunks of one campaign add up: refresh statistics each time the ledger doubles.
        self._ledger_added += count
        if self._ledger_added >= self._ledger_analyze_at:
            self._ledger_analyze_at = 2 * self._ledger_added
            await self._analyze("deliveries")
        log.debug(
            "ledger of campaign %d: %d recipients added",
            campaign_id,
            count,
            extra={"action": "ledger.populate"},
        )
        return count

    async def last_subscriber_id(self) -> int:
        return await self._tx(self._ledger.last_subscriber_id, write=False)

    async def eligible_count(self, campaign_id: int) -> int:
        async def fn(conn: AsyncConnection) -> int:
            await C.get(conn, campaign_id)  # NotFound names the campaign
            return await audience.eligible_count(conn, campaign_id)

        return await self._tx(fn, write=False)

    async def missing_attributes(self, campaign_id: int, names: Sequence[str]) -> dict[str, int]:
        async def fn(conn: AsyncConnection) -> dict[str, int]:
            campaign = await C.get(conn, campaign_id)  # NotFound names the campaign
            if campaign.segment:
                return await audience.missing_attributes_in_segment(
                    conn, self.dialect, campaign_id, names, parse(campaign.segment)
                )
            return await audience.missing_attributes(conn, self.dialect, campaign_id, names)

        return await self._tx(fn, write=False)

    # -- claims and outcomes ---------------------------------------------------------------
    async def claim_batch(
        self, campaign_id: int, owner: str, limit: int, now: dt.datetime
    ) -> list[Recipient]:
        if self._direct is not None:  # SQLite file: one thread hop, no SQLAlchemy per row
            return await self._direct.transaction(
                partial(
                    self._claims.claim_sqlite,
                    campaign_id=campaign_id,
                    owner=owner,
                    limit=limit,
                    now=now,
                )
            )

        async def fn(conn: AsyncConnection) -> list[Recipient]:
            return await self._claims.claim(conn, campaign_id, owner, limit, now)

        return await self._tx(fn)

    async def record_deliveries(self, records: Sequence[DeliveryRecord], now: dt.datetime) -> None:
        if self._direct is not None:  # SQLite file: one thread hop instead of ~8
            if records:
                await self._direct.transaction(
                    partial(self._outcomes.record_sqlite, records=records, now=now)
                )
            return

        async def fn(conn: AsyncConnection) -> None:
            await self._outcomes.record(conn, records, now)

        await self._tx(fn)

    async def add_send_errors(self, campaign_id: int, count: int) -> int:
        async def fn(conn: AsyncConnection) -> int:
            return await C.add_send_errors(conn, campaign_id, count)

        return await self._tx(fn)

    async def renew_claims(self, owner: str, campaign_id: int, now: dt.datetime) -> int:
        async def fn(conn: AsyncConnection) -> int:
            return await claims.renew(conn, owner, campaign_id, now)

        return await self._tx(fn)

    async def release_claims(self, owner: str, campaign_id: int | None = None) -> int:
        now = utcnow()

        async def fn(conn: AsyncConnection) -> int:
            return await claims.release(conn, owner, campaign_id, now)

        return await self._tx(fn)

    async def recover_claims(self, owner: str, lease: dt.timedelta, now: dt.datetime) -> int:
        async def fn(conn: AsyncConnection) -> int:
            return await claims.recover(conn, owner, lease, now)

        return await self._tx(fn)

    async def recover_stale_claims(
        self, campaign_id: int, lease: dt.timedelta, alive: str, now: dt.datetime
    ) -> int:
        async def fn(conn: AsyncConnection) -> int:
            return await claims.recover_stale(conn, campaign_id, lease, alive, now)

        return await self._tx(fn)

    async def reset_failed(self, campaign_id: int) -> int:
        now = utcnow()

        async def fn(conn: AsyncConnection) -> int:
            return await claims.reset_failed(conn, campaign_id, now)

        return await self._tx(fn)

    # -- counts ----------------------------------------------------------------------------
    async def counts(self, campaign_id: int) -> CampaignCounts:
        async def fn(conn: AsyncConnection) -> CampaignCounts:
            return await outcomes.counts(conn, campaign_id)

        return await self._tx(fn, write=False)

    async def failures(self, campaign_id: int) -> list[Failure]:
        async def fn(conn: AsyncConnection) -> list[Failure]:
            return await outcomes.failures(conn, campaign_id)

        return await self._tx(fn, write=False)

    async def next_retry_at(self, campaign_id: int) -> dt.datetime | None:
        async def fn(conn: AsyncConnection) -> dt.datetime | None:
            return await outcomes.next_retry_at(conn, campaign_id)

        return await self._tx(fn, write=False)
