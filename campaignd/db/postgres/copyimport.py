"""One CSV import on PostgreSQL: an asyncpg connection on a thread of its own (CopySession).

``CopySession`` has the BulkSession shape that campaignd.importing.bulkpump drives: ``submit``
hands a batch over and returns at once, ``collect`` waits for the oldest answer. The batches
run one after the other on the session's connection (one transaction each, see copysql), on an
event loop in a thread of the session's own, so the caller's parsing and the server's work
overlap. Nothing here imports SQLAlchemy; the URL is the operator's ``postgresql://`` one.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import logging
import re
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from campaignd.db.postgres.copysql import SETUP, Columns, FreshGuess, run_batch
from campaignd.domain import ImportCounts, ImportOptions
from campaignd.errors import CampaigndError, StoreError

T = TypeVar("T")
log = logging.getLogger(__name__)

_PG_SCHEME = re.compile(r"(?:postgresql|postgres|postgresql\+asyncpg)://", re.IGNORECASE)
_CONNECT_TIMEOUT_S = 30.0
#: Per import connection: a committed batch is written to the WAL without waiting for its
#: flush to disk (a server crash may lose the last ~0.6 s of batches, never half of one), as
#: SQLite's synchronous=NORMAL does for the SQLite import.
_SESSION_SETTINGS = ("SET synchronous_commit TO off",)

_Answer = tuple[ImportCounts, list[int]]


def postgres_dsn(url: str) -> str | None:
    """The asyncpg DSN of a PostgreSQL database URL; None for any other URL."""
    url = url.strip()
    match = _PG_SCHEME.match(url)
    if match is None:
        return None
    return "postgresql://" + url[match.end() :]


def describe(dsn: str) -> str:
    """The DSN without its password, for messages."""
    try:
        parts = urlsplit(dsn)
        netloc = parts.netloc
        if parts.password is not None:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.partition(':')[0]}:***@{host}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<invalid database URL>"


def database_error(dsn: str, exc: BaseException | str) -> StoreError:
    return StoreError(f"database error on {describe(dsn)}: {exc}")


async def connect(dsn: str) -> asyncpg.Connection:
    """A connection for an import; raise StoreError naming the database (without password)."""
    try:
        conn: asyncpg.Connection = await asyncpg.connect(dsn, timeout=_CONNECT_TIMEOUT_S)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ValueError) as exc:
        raise database_error(dsn, exc) from exc
    except TimeoutError as exc:
        raise database_error(dsn, "connection timed out") from exc
    return conn


# Triggers of the operator's own on the tables an import writes: with any, they stay on.
_OWN_TRIGGERS = """
SELECT count(*) FROM pg_trigger
WHERE tgrelid IN ('subscribers'::regclass, 'subscriptions'::regclass) AND NOT tgisinternal
"""


async def prepare(conn: asyncpg.Connection, dsn: str, *, per_row_checks: bool = False) -> None:
    """The import's session settings and temporary tables on a new connection.

    The foreign-key checks of subscriptions (two trigger calls a row, half of the server's
    time) are turned off for this connection when the role may (``session_replication_role``:
    a superuser, or GRANT SET ON PARAMETER) and the tables have no triggers of their own; the
    batch then takes the same locks once (copysql: the lists and the existing subscribers
    FOR KEY SHARE; its new subscribers are its own until it commits). ``per_row_checks``
    keeps them on.
    """
    try:
        for statement in (*_SESSION_SETTINGS, *SETUP):
            await conn.execute(statement)
        if not per_row_checks and await conn.fetchval(_OWN_TRIGGERS) == 0:
            try:
                await conn.execute("SET session_replication_role TO replica")
            except asyncpg.InsufficientPrivilegeError:
                log.debug("per-row foreign-key checks stay on: not allowed to turn them off")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise database_error(dsn, exc) from exc


async def import_columns(
    conn: asyncpg.Connection,
    dsn: str,
    cols: Columns,
    options: ImportOptions,
    now: dt.datetime,
    session: bool,
    guess: FreshGuess | None = None,
) -> _Answer:
    """One batch in one transaction (copysql.run_batch); NotFound, or StoreError if refused."""
    if not cols[0]:
        return ImportCounts(), []
    try:
        async with conn.transaction():
            return await run_batch(conn, cols, options, now, session, guess)
    except CampaigndError:
        raise
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise database_error(dsn, exc) from exc


class CopySession:
    """One import's connection, its batches pipelined (see the module docstring).

    ``submit`` and ``collect`` may be called from two threads; ``collect`` answers in
    submission order, raising NotFound or StoreError as the batch's transaction did (a refused
    batch wrote nothing). Blocking: call it from a worker thread.
    """

    def __init__(self, dsn: str, *, per_row_checks: bool = False) -> None:
        self._dsn = dsn
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-import")
        self._thread.start()
        self._pending: collections.deque[concurrent.futures.Future[_Answer]] = collections.deque()
        self._lock = threading.Lock()
        self._conn: asyncpg.Connection | None = None
        self._last: concurrent.futures.Future[_Answer] | None = None
        self._guess = FreshGuess()  # used by one batch at a time, on the session's loop
        try:
            self._conn = self._call(connect(dsn))
            self._call(prepare(self._conn, dsn, per_row_checks=per_row_checks))
        except BaseException:
            self.close()
            raise

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _run(
        self,
        before: concurrent.futures.Future[_Answer] | None,
        fields: Sequence[str],
        options: ImportOptions,
        now: dt.datetime,
    ) -> _Answer:
        if before is not None:  # one batch at a time on the connection, in submission order
            await asyncio.wait([asyncio.wrap_future(before)])
        conn = self._conn
        if conn is None:
            raise StoreError("the import's database connection is closed")
        cols: Columns = (
            list(fields[0::4]),
            list(fields[1::4]),
            list(fields[2::4]),
            list(fields[3::4]),
        )
        return await import_columns(
            conn, self._dsn, cols, options, now, session=True, guess=self._guess
        )

    def submit(self, fields: Sequence[str], options: ImportOptions) -> None:
        """Hand one batch (flat: email, email_key, name, attributes, then the next row) over."""
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            if self._conn is None:
                raise StoreError("the import's database connection is closed")
            future = asyncio.run_coroutine_threadsafe(
                self._run(self._last, fields, options, now), self._loop
            )
            self._last = future
            self._pending.append(future)

    def collect(self) -> _Answer:
        """The oldest uncollected batch's (counts, duplicate positions)."""
        with self._lock:
            if not self._pending:
                raise RuntimeError("collect() without a submitted batch")
            future = self._pending.popleft()
        return future.result()

    def close(self) -> None:
        """Wait for the batches handed over, close the connection, end the thread."""
        with self._lock:
            pending, self._pending = list(self._pending), collections.deque()
            self._last = None
        concurrent.futures.wait(pending)
        conn, self._conn = self._conn, None
        if conn is not None and self._loop.is_running():
            try:
                self._call(conn.close(timeout=10))
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                self._call(_terminate(conn))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _terminate(conn: asyncpg.Connection) -> None:
    conn.terminate()
