"""What `subscribers import` needs of a SQLite file, without SQLAlchemy.

Importing SQLAlchemy and building the async engine costs the CLI ~0.45 s before the first batch
can reach the import's writer process; on SQLite the import needs none of it: the schema
check, the lists by name, and the writer (campaignd.db.sqlite.writer), all on the stdlib sqlite3
module. `open_for_import` returns this store for a plain `sqlite:///FILE` URL and None for
anything else (PostgreSQL, in-memory, URL options), which then goes through SqlStore as before.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path

from campaignd.db.head import SCHEMA_HEAD, SCHEMA_MESSAGE, missing_database
from campaignd.db.sqlite.bulkrows import bulk_rows
from campaignd.db.sqlite.fastimport import BUSY_TIMEOUT_S, SqliteBulk
from campaignd.db.sqlite.writer import BulkSession
from campaignd.domain import (
    ImportCounts,
    ImportOptions,
    MailingList,
    NewSubscriber,
    OptIn,
    SubscriptionStatus,
    utcnow,
)
from campaignd.errors import NotFound, SchemaOutOfDate, StoreError

# sqlite:///relative or sqlite:////absolute, nothing else: no query string, no escapes, not
# ":memory:" or a "file:" URI (those go through SQLAlchemy's URL parsing as before).
_PLAIN_FILE = re.compile(r"sqlite(?:\+aiosqlite)?:///(?P<path>[^?#%]+)", re.IGNORECASE)
_UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED.value


def plain_sqlite_file(url: str) -> Path | None:
    """The file of a plain `sqlite:///FILE` URL; None for any other URL."""
    match = _PLAIN_FILE.fullmatch(url.strip())
    if match is None:
        return None
    path = match["path"]
    if path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


class SqliteImportStore:
    """`run_import`'s store on a SQLite file: schema check, lists by name, bulk writer."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._bulk = SqliteBulk(path)

    def _read(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise StoreError(f"database error on {self._path}: {exc}") from exc
        return conn

    async def check_schema(self) -> None:
        """Refuse an out-of-date or empty database, as SqlStore.check_schema does."""
        if not self._path.exists():
            raise SchemaOutOfDate(missing_database(str(self._path), os.getcwd()))

        def revision() -> str | None:
            conn = self._read()
            try:
                rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            except sqlite3.OperationalError:
                return None  # no alembic_version table: never migrated
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"database error on {self._path}: {exc}") from exc
            finally:
                conn.close()
            return str(rows[0][0]) if len(rows) == 1 else None

        if await asyncio.to_thread(revision) != SCHEMA_HEAD:
            raise SchemaOutOfDate(SCHEMA_MESSAGE)

    async def get_list(self, name: str) -> MailingList:
        def find() -> MailingList:
            conn = self._read()
            try:
                row = conn.execute(
                    "SELECT l.id, l.name, l.optin, l.description, l.created_at, "
                    "(SELECT count(*) FROM subscriptions s WHERE s.list_id = l.id "
                    f"AND s.status <> '{_UNSUBSCRIBED}'), l.public, l.uuid "
                    "FROM lists l WHERE l.name = ?",
                    (name,),
                ).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"database error on {self._path}: {exc}") from exc
            finally:
                conn.close()
            if row is None:
                raise NotFound(f"no list named {name!r}")
            created = dt.datetime.fromisoformat(row[4]).replace(tzinfo=dt.UTC)
            list_uuid = uuid.UUID(hex=row[7])  # SQLAlchemy's Uuid on SQLite: 32 hex digits
            return MailingList(
                row[0], row[1], OptIn(row[2]), row[3], created, int(row[5]), bool(row[6]), list_uuid
            )

        return await asyncio.to_thread(find)

    async def import_batch(
        self, rows: Sequence[NewSubscriber], options: ImportOptions
    ) -> ImportCounts:
        """As SqlStore.import_batch on a SQLite file (the same SqliteBulk)."""
        if not rows:
            return ImportCounts()
        bulk = bulk_rows(rows)
        counts, _dups = await asyncio.to_thread(self._bulk.import_rows, bulk, options, utcnow())
        return counts

    def bulk_session(self) -> BulkSession:
        """A writer process for one CSV import; blocking."""
        return BulkSession(self._path)

    async def close(self) -> None:
        await asyncio.to_thread(self._bulk.close)
