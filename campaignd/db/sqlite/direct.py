"""A SQLite file's hot writes in one thread hop: a stdlib ``sqlite3`` connection on a thread of
its own, each transaction a single call.

Through SQLAlchemy and aiosqlite a transaction is about eight hand-offs between the event loop
and the driver's thread (check-out, BEGIN, statement, COMMIT, reset on return), ~450 µs of CPU
here whatever its size. The ledger recorder commits a few outcomes at a time, hundreds of
times a second, so that cost was a tenth of the sender's CPU. ``SqliteDirect.transaction``
runs BEGIN IMMEDIATE, the caller's statements and COMMIT in one call on its thread (~80 µs).
It uses the same pragmas as the engine's connections and, like ``SqlStore._tx``, retries while
another writer holds the lock and raises StoreError otherwise.

Waiting for the write lock: SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20... ms between
tries, far longer than another process's ledger commit holds the lock (a fraction of a
millisecond). With two sending processes (app.workers = 2) each one's commits waited 1.2 ms on
average at BEGIN, 20% of the run, with their messages' slots held. So this connection has no
busy handler (busy_timeout 0) and BEGIN IMMEDIATE is tried again every 0.1-1 ms instead, for as
long as the busy timeout. In WAL mode nothing after BEGIN IMMEDIATE waits for a lock; should a
statement still find the database locked, the whole transaction is rolled back and run again
(``transaction``'s retries), as after a lock timeout before.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from campaignd.db.engine import SQLITE_BUSY_TIMEOUT_MS, SQLITE_PRAGMAS
from campaignd.errors import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")
_RETRIES = 5
_FIRST_PAUSE = 0.0001  # seconds between BEGIN IMMEDIATE tries, doubling up to _LONGEST_PAUSE
_LONGEST_PAUSE = 0.001


class SqliteDirect:
    """One connection to a SQLite file, used from one dedicated thread; opened on first use."""

    def __init__(
        self,
        path: Path,
        *,
        retries: int = _RETRIES,
        retry_delay: float = 0.05,
        busy_timeout_ms: int | None = None,  # None: the engine's (SQLITE_BUSY_TIMEOUT_MS)
    ) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._retries = retries
        self._retry_delay = retry_delay
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    @property
    def _wait_ms(self) -> int:
        wait_ms = self._busy_timeout_ms
        return SQLITE_BUSY_TIMEOUT_MS if wait_ms is None else int(wait_ms)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self._path,
                timeout=self._wait_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                for pragma in SQLITE_PRAGMAS:
                    conn.execute(pragma)
                conn.execute("PRAGMA busy_timeout=0")  # _begin waits for the lock itself
            except sqlite3.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, tried every 0.1-1 ms while another connection holds the write lock
        (at most the busy timeout; then SQLite's "database is locked" error)."""
        pause, deadline = _FIRST_PAUSE, time.monotonic() + self._wait_ms / 1000
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(2 * pause, _LONGEST_PAUSE)

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connection()
        self._begin(conn)
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # a failed COMMIT leaves it open: nothing was written
                conn.execute("ROLLBACK")
            raise
        return result

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` between BEGIN IMMEDIATE and COMMIT on the connection's thread."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="campaignd-sqlite")
        loop = asyncio.get_running_loop()
        for attempt in range(1, self._retries + 1):
            try:
                return await loop.run_in_executor(self._executor, self._run, fn)
            except sqlite3.Error as exc:
                if attempt == self._retries or "locked" not in str(exc).lower():
                    raise StoreError(f"database error on {self._path}: {exc}") from exc
                log.warning(
                    "transient database error, retrying (%d/%d): %s",
                    attempt,
                    self._retries,
                    exc,
                    extra={"action": "db.retry"},
                )
                await asyncio.sleep(self._retry_delay * 2**attempt)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        await asyncio.get_running_loop().run_in_executor(executor, self._close)
        executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
