"""campaignd.db.sqlite.direct: one-hop SQLite transactions for the ledger recorder's commits."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from campaignd.db.sqlite.direct import SqliteDirect
from campaignd.errors import StoreError


def make_db(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")  # as `campaignd db upgrade` leaves it
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")


def rows(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT id, v FROM t ORDER BY id"))


async def test_commits_and_returns_the_result(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    make_db(db)
    direct = SqliteDirect(db)
    try:

        def write(conn: sqlite3.Connection) -> int:
            conn.executemany("INSERT INTO t (v) VALUES (?)", [("a",), ("b",)])
            return conn.total_changes

        assert await direct.transaction(write) == 2
        assert rows(db) == [(1, "a"), (2, "b")]
        mode = await direct.transaction(lambda c: c.execute("PRAGMA journal_mode").fetchone())
        assert mode == ("wal",)  # the engine's pragmas
    finally:
        await direct.close()


async def test_a_failure_rolls_back_everything_and_the_connection_stays_usable(
    tmp_path: Path,
) -> None:
    db = tmp_path / "d.db"
    make_db(db)
    direct = SqliteDirect(db)
    try:

        def half(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t (v) VALUES ('kept?')")
            conn.execute("INSERT INTO t (v) VALUES (NULL)")  # NOT NULL

        with pytest.raises(StoreError, match="NOT NULL"):
            await direct.transaction(half)
        assert rows(db) == []
        await direct.transaction(lambda c: c.execute("INSERT INTO t (v) VALUES ('ok')"))
        assert rows(db) == [(1, "ok")]
    finally:
        await direct.close()


async def test_waits_out_another_writer_then_commits(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    make_db(db)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(10)
        other.execute("ROLLBACK")
        other.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(10)
    direct = SqliteDirect(db, retries=8, retry_delay=0.02, busy_timeout_ms=20)
    try:
        task = asyncio.create_task(
            direct.transaction(lambda c: c.execute("INSERT INTO t (v) VALUES ('late')"))
        )
        await asyncio.sleep(0.3)
        assert not task.done()  # still waiting for the lock
        release.set()
        await asyncio.wait_for(task, 10)
        assert rows(db) == [(1, "late")]
    finally:
        release.set()
        holder.join()
        await direct.close()


async def test_gives_up_with_store_error_when_the_lock_never_comes(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    make_db(db)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    direct = SqliteDirect(db, retries=2, retry_delay=0.01, busy_timeout_ms=10)
    try:
        with pytest.raises(StoreError, match="locked"):
            await direct.transaction(lambda c: c.execute("INSERT INTO t (v) VALUES ('x')"))
    finally:
        other.execute("ROLLBACK")
        other.close()
        await direct.close()
    assert rows(tmp_path / "d.db") == []
