"""The async engine: URL mapping to async drivers, SQLite pragmas, transient-error detection."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from campaignd.errors import StoreError

log = logging.getLogger(__name__)

#: How long SQLite waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: Execution option naming a transaction that will write (SQLite takes the write lock up front).
WRITE_OPTION = "campaignd_write"

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
    # 2 MiB per connection: the daemon walks the ledger in id order and the OS keeps the file
    # cached anyway, so a bigger cache bought no speed (bench.parts engine: 170 us/msg either
    # way) but grew with the database, one cache per pooled connection: peak RSS 111 -> 120 MB
    # from 100k to 400k recipients with 8 MiB, 92 -> 94 MB with 2 MiB. Imports use
    # db.fastimport's own pragmas.
    "PRAGMA cache_size=-2048",
)


def async_url(url: str) -> str:
    """Map an operator's URL to the async driver: sqlite+aiosqlite or postgresql+asyncpg."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise StoreError(
            f"database URL must look like sqlite:///path or postgresql://...: {scheme}"
        )
    scheme = scheme.lower()
    if scheme in {"sqlite", "sqlite+aiosqlite"}:
        return f"sqlite+aiosqlite://{rest}"
    if scheme in {"postgresql", "postgres", "postgresql+asyncpg"}:
        return f"postgresql+asyncpg://{rest}"
    raise StoreError(f"unsupported database URL scheme {scheme!r}: use sqlite:/// or postgresql://")


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    try:
        parsed = make_url(async_url(url))
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL: {exc}") from exc
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in {"", ":memory:"} or database.startswith("file:"):
        return None
    return Path(database)


def create_private_file(path: Path) -> bool:
    """Create an empty database file only its owner can read (0600) unless one exists; say
    whether it did. SQLite would create it with the umask's mode (usually 0644); its -wal and
    -shm files take the database file's mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def _sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Transactions are begun by _sqlite_begin, not by the driver's implicit BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A writing transaction takes the write lock first, so it waits (busy_timeout) instead of
    # failing when another writer committed after its first read.
    immediate = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: str) -> AsyncEngine:
    """An async engine for `sqlite:///path` or `postgresql://...` (driver chosen here)."""
    target = async_url(url)
    try:
        if target.startswith("sqlite"):
            engine = create_async_engine(target, pool_size=5, max_overflow=5)
            event.listen(engine.sync_engine, "connect", _sqlite_connect)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
        else:
            engine = create_async_engine(target, pool_pre_ping=True, pool_size=5, max_overflow=5)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"invalid database URL: {exc}") from exc
    return engine


_PG_CONNECTION_LOST = frozenset(
    {
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "CannotConnectNowError",
        "AdminShutdownError",
        "CrashShutdownError",
        "TooManyConnectionsError",
    }
)


def is_transient(exc: BaseException) -> bool:
    """Only errors worth retrying: SQLite lock contention and a lost PostgreSQL connection."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    seen: BaseException | None = exc.orig if isinstance(exc, DBAPIError) else exc
    for _ in range(4):  # the driver error, and what it wraps
        if seen is None:
            break
        text = str(seen).lower()
        if "database is locked" in text or "database table is locked" in text:
            return True
        if type(seen).__name__ in _PG_CONNECTION_LOST or isinstance(seen, ConnectionError):
            return True
        seen = seen.__cause__
    return False


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(async_url(url)).render_as_string(hide_password=True)
    except (ArgumentError, StoreError):
        return "<invalid database URL>"


def database_line(url: str, cwd: Path) -> str:
    """Which database a command uses, password masked; a relative SQLite path is explained
    (``sqlite:///x.db`` is relative to the current directory, ``sqlite:////x.db`` absolute)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "database: <invalid database URL>"
    line = f"database: {parsed.render_as_string(hide_password=True)}"
    database = parsed.database or ""
    if (
        parsed.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not database.startswith("file:")
        and not Path(database).is_absolute()
    ):
        absolute = cwd / database
        line += (
            f"\n  sqlite:/// (three slashes) is a path relative to the current directory: "
            f"{absolute}\n  sqlite://// (four slashes) is an absolute path, the same file from "
            f"anywhere: sqlite:///{absolute}"
        )
    return line
