"""The SQL store's shared part: engine, transactions with retries, the schema check."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Self, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaignd.db import tables as T
from campaignd.db.bulk import Importer
from campaignd.db.claims import Claims
from campaignd.db.engine import WRITE_OPTION, create_engine, describe, is_transient, sqlite_path
from campaignd.db.head import SCHEMA_HEAD, SCHEMA_MESSAGE, missing_database
from campaignd.db.ledger import Ledger
from campaignd.db.outcomes import Outcomes
from campaignd.db.revision import database_revision
from campaignd.db.sqlite.direct import SqliteDirect
from campaignd.db.sqlite.fastimport import SqliteBulk
from campaignd.domain import (
    SubscriptionStatus,
)
from campaignd.errors import (
    CampaigndError,
    Conflict,
    NotFound,
    SchemaOutOfDate,
    StoreError,
)

log = logging.getLogger("campaignd.store.sql")  # one logger for the whole store, as before

T_ = TypeVar("T_")

_RETRIES = 5
#: PostgreSQL statistics are refreshed after this many imported rows, then at each doubling.
ANALYZE_AFTER_ROWS = 5_000
UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED.value


async def upgrade_schema(url: str) -> str:
    """Create or upgrade the schema of `url` to the newest migration; return that revision."""
    from campaignd.db.migrate import upgrade  # alembic is only needed here

    return await upgrade(url)


class SqlBase:
    """The engine, the SQLite fast paths and the statement sets every part of SqlStore shares;
    the transaction runner (`_tx`); the SchemaStore methods."""

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self._engine = engine
        self._url = url
        self.dialect = engine.dialect.name
        self._ledger = Ledger(self.dialect)
        self._claims = Claims(self.dialect)
        self._outcomes = Outcomes(self.dialect)
        self._importer = Importer(self.dialect)
        self._imported = 0  # rows inserted by import_batch through this store
        self._analyze_at = ANALYZE_AFTER_ROWS
        self._ledger_added = 0
        self._ledger_analyze_at = ANALYZE_AFTER_ROWS
        path = sqlite_path(url) if self.dialect == "sqlite" else None
        # SQLite file: import_batch on its own sqlite3 connection (db.fastimport).
        self._bulk = SqliteBulk(path) if path is not None else None
        # SQLite file: the recorder's commits and the claims bypass SQLAlchemy (db.direct).
        self._direct = SqliteDirect(path) if path is not None else None

    @classmethod
    async def open(cls, url: str) -> Self:
        """A store on `url` (sqlite:///path or postgresql://...); connects lazily."""
        return cls(create_engine(url), url)

    async def close(self) -> None:
        if self._direct is not None:
            await self._direct.close()
        if self._bulk is not None:
            await asyncio.to_thread(self._bulk.close)
        await self._engine.dispose()

    async def _tx(
        self, fn: Callable[[AsyncConnection], Awaitable[T_]], *, write: bool = True
    ) -> T_:
        """Run `fn` in one transaction; retry it on known-transient errors before the commit."""
        for attempt in range(1, _RETRIES + 1):
            committing = False
            try:
                async with self._engine.connect() as conn:
                    if write:
                        conn = await conn.execution_options(**{WRITE_OPTION: True})
                    async with conn.begin():
                        result = await fn(conn)
                        committing = True
                return result
            except CampaigndError:
                raise
            except IntegrityError as exc:
                raise Conflict(f"conflicts with existing data: {exc.orig}") from exc
            except (SQLAlchemyError, OSError) as exc:
                if committing or attempt == _RETRIES or not is_transient(exc):
                    raise StoreError(f"database error on {describe(self._url)}: {exc}") from exc
                log.warning(
                    "transient database error, retrying (%d/%d): %s",
                    attempt,
                    _RETRIES,
                    exc,
                    extra={"action": "db.retry"},
                )
                await asyncio.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    # -- SchemaStore -----------------------------------------------------------------------
    async def check_schema(self) -> None:
        path = sqlite_path(self._url)
        if path is not None and not path.exists():
            raise SchemaOutOfDate(missing_database(str(path), os.getcwd()))

        if await self._tx(database_revision, write=False) != SCHEMA_HEAD:
            raise SchemaOutOfDate(SCHEMA_MESSAGE)

    async def _analyze(self, *names: str) -> None:
        """Refresh PostgreSQL's planner statistics after a bulk change.

        Until autovacuum catches up, the planner believes a freshly imported table is still
        small and picks plans (sequential and bitmap scans) that make each batch slower than
        the last. SQLite keeps no statistics unless asked, so it needs none of this.
        """
        if self.dialect != "postgresql":
            return

        async def fn(conn: AsyncConnection) -> None:
            await conn.exec_driver_sql(f"ANALYZE {', '.join(names)}")

        await self._tx(fn)


async def _require_lists(conn: AsyncConnection, list_ids: Sequence[int]) -> None:
    wanted = set(list_ids)
    if not wanted:
        return
    found = set((await conn.scalars(select(T.lists.c.id).where(T.lists.c.id.in_(wanted)))).all())
    missing = sorted(wanted - found)
    if missing:
        raise NotFound(f"no list with id {', '.join(map(str, missing))}")
