"""What `subscribers import` needs of a PostgreSQL database, on asyncpg without SQLAlchemy.

The schema check, the lists by name, ``import_batch`` and the COPY session
(campaignd.db.postgres.copyimport) on connections of their own. cli/importing.py takes this
store for a ``postgresql://`` URL (``postgres_dsn``) instead of SqlStore.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import asyncpg

from campaignd.db.head import SCHEMA_HEAD, SCHEMA_MESSAGE
from campaignd.db.postgres.copyimport import (
    CopySession,
    connect,
    database_error,
    import_columns,
    prepare,
)
from campaignd.db.postgres.copysql import Columns
from campaignd.domain import (
    ImportCounts,
    ImportOptions,
    MailingList,
    NewSubscriber,
    OptIn,
    SubscriptionStatus,
    utcnow,
)
from campaignd.errors import NotFound, SchemaOutOfDate

_UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED.value
_GET_LIST = (
    "SELECT l.id, l.name, l.optin, l.description, l.created_at, "
    "(SELECT count(*) FROM subscriptions s WHERE s.list_id = l.id "
    f"AND s.status <> '{_UNSUBSCRIBED}'), l.public, l.uuid FROM lists l WHERE l.name = $1"
)


class PgImportStore:
    """`run_import`'s store on PostgreSQL: schema check, lists by name, COPY sessions."""

    def __init__(self, dsn: str, *, per_row_checks: bool = False) -> None:
        self._dsn = dsn
        self._per_row_checks = per_row_checks  # see copyimport.prepare
        self._conn: asyncpg.Connection | None = None

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None:
            conn = await connect(self._dsn)
            try:
                await prepare(conn, self._dsn, per_row_checks=self._per_row_checks)
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def check_schema(self) -> None:
        """Refuse an out-of-date or empty database, as SqlStore.check_schema does."""
        conn = await self._connection()
        try:
            rows = await conn.fetch("SELECT version_num FROM alembic_version")
        except asyncpg.UndefinedTableError:
            raise SchemaOutOfDate(SCHEMA_MESSAGE) from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise database_error(self._dsn, exc) from exc
        if len(rows) != 1 or rows[0][0] != SCHEMA_HEAD:
            raise SchemaOutOfDate(SCHEMA_MESSAGE)

    async def get_list(self, name: str) -> MailingList:
        conn = await self._connection()
        try:
            row = await conn.fetchrow(_GET_LIST, name)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise database_error(self._dsn, exc) from exc
        if row is None:
            raise NotFound(f"no list named {name!r}")
        created: dt.datetime = row[4].astimezone(dt.UTC)
        return MailingList(
            row[0], row[1], OptIn(row[2]), row[3], created, int(row[5]), bool(row[6]), row[7]
        )

    async def import_batch(
        self, rows: Sequence[NewSubscriber], options: ImportOptions
    ) -> ImportCounts:
        """As SqlStore.import_batch (later rows with an address already in the batch are
        counted as skipped), through the COPY path."""
        if not rows:
            return ImportCounts()
        cols: Columns = (
            [r.email for r in rows],
            [r.email.lower() for r in rows],
            [r.name for r in rows],
            [json.dumps(dict(r.attributes)) for r in rows],
        )
        conn = await self._connection()
        counts, _dups = await import_columns(
            conn, self._dsn, cols, options, utcnow(), session=False
        )
        return counts

    def bulk_session(self) -> CopySession:
        """A connection of its own for one CSV import; blocking."""
        return CopySession(self._dsn, per_row_checks=self._per_row_checks)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
