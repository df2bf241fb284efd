"""The engine: URL mapping, SQLite pragmas, which errors count as transient."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from campaignd.db.engine import async_url, create_engine, is_transient, sqlite_path
from campaignd.errors import StoreError


@pytest.mark.parametrize(
    ("url", "mapped"),
    [
        ("sqlite:///var/lib/c.db", "sqlite+aiosqlite:///var/lib/c.db"),
        ("sqlite:////abs/c.db", "sqlite+aiosqlite:////abs/c.db"),
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_urls_map_to_the_async_drivers(url: str, mapped: str) -> None:
    assert async_url(url) == mapped


def test_unsupported_urls_are_refused() -> None:
    with pytest.raises(StoreError, match="unsupported"):
        async_url("mysql://u@h/db")
    with pytest.raises(StoreError):
        async_url("campaignd.db")
    assert sqlite_path("postgresql://u@h/db") is None
    assert str(sqlite_path("sqlite:////srv/x/c.db")) == "/srv/x/c.db"


async def test_sqlite_connections_get_the_pragmas(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            got = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
    finally:
        await engine.dispose()
    assert got == {
        "journal_mode": "wal",
        "busy_timeout": 30000,
        "foreign_keys": 1,
        "synchronous": 1,
    }


def test_only_lock_contention_and_lost_connections_are_transient() -> None:
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert is_transient(locked)
    broken = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: lists"))
    assert not is_transient(broken)
    assert not is_transient(IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE")))
    assert is_transient(ConnectionResetError("peer reset"))

    class ConnectionDoesNotExistError(Exception):  # asyncpg's name for a dropped connection
        pass

    wrapped = OperationalError("SELECT", {}, Exception("adapter"))
    wrapped.orig.__cause__ = ConnectionDoesNotExistError("connection was closed")  # type: ignore[union-attr]
    assert is_transient(wrapped)
