"""The SQL ImportStore's upsert: a batch of CSV rows, set-based; a child process on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db.engine import sqlite_path
from campaignd.db.sqlite.bulkrows import bulk_rows
from campaignd.db.sqlite.writer import BulkSession
from campaignd.domain import (
    ImportCounts,
    ImportOptions,
    NewSubscriber,
    utcnow,
)
from campaignd.store.sql.base import SqlBase, _require_lists


class SqlImport(SqlBase):
    """import_batch, on SQLite files through the fast import (get_list: SqlSubscribers)."""

    async def import_batch(
        self, rows: Sequence[NewSubscriber], options: ImportOptions
    ) -> ImportCounts:
        if not rows:
            return ImportCounts()
        now = utcnow()
        if self._bulk is not None:
            bulk = bulk_rows(rows)
            counts, _dups = await asyncio.to_thread(self._bulk.import_rows, bulk, options, now)
            return counts

        async def fn(conn: AsyncConnection) -> ImportCounts:
            await _require_lists(conn, options.list_ids)
            return await self._importer.run(conn, rows, options, now)

        counts = await self._tx(fn)
        self._imported += counts.inserted
        if self._imported >= self._analyze_at:
            self._analyze_at = 2 * self._imported
            await self._analyze("subscribers", "subscriptions")
        return counts

    def bulk_session(self) -> BulkSession | None:
        """A writer process for one CSV import on a SQLite file (None otherwise); blocking."""
        path = sqlite_path(self._url) if self.dialect == "sqlite" else None
        return BulkSession(path) if path is not None else None
