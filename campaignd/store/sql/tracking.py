"""The SQL TrackingStore: batched hits, their counts, and the ledger's and bounces' figures."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tracking as TR
from campaignd.domain import Hit, HitCount, HitKind, LedgerPoint
from campaignd.store.sql.base import SqlBase


class SqlTracking(SqlBase):
    """record_hits and the statistics' queries (the statements: campaignd.db.tracking)."""

    async def record_hits(self, hits: Sequence[Hit]) -> None:
        async def fn(conn: AsyncConnection) -> None:
            await TR.record_hits(conn, self.dialect, hits)

        if hits:
            await self._tx(fn)

    async def hit_counts(self, campaign_id: int) -> list[HitCount]:
        async def fn(conn: AsyncConnection) -> list[HitCount]:
            return await TR.hit_counts(conn, campaign_id)

        return await self._tx(fn, write=False)

    async def unique_hitters(self, campaign_id: int) -> dict[tuple[HitKind, bool], int]:
        async def fn(conn: AsyncConnection) -> dict[tuple[HitKind, bool], int]:
            return await TR.unique_hitters(conn, campaign_id)

        return await self._tx(fn, write=False)

    async def ledger_series(self, campaign_id: int) -> list[LedgerPoint]:
        async def fn(conn: AsyncConnection) -> list[LedgerPoint]:
            return await TR.ledger_series(conn, self.dialect, campaign_id)

        return await self._tx(fn, write=False)
