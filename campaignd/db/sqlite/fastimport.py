"""SQLite bulk import on a dedicated stdlib ``sqlite3`` connection: one batch, one transaction.

``SqliteBulk.import_rows`` upserts one batch (the SQL is in ``upsert``) with the counting of
``Store.import_batch``, for the store's import_batch on a SQLite file and, in its own process,
for one CSV import's writer (``writer.BulkSession``). Nothing here imports SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from campaignd.db.sqlite.bulkrows import BulkColumns, BulkRow, columns
from campaignd.db.sqlite.checkpoint import Checkpointer
from campaignd.db.sqlite.upsert import ImportSession, run_batch
from campaignd.domain import ImportCounts, ImportOptions
from campaignd.errors import StoreError

BUSY_TIMEOUT_S = 30.0

_PRAGMAS = (
    # Off on this connection only: the lists are checked in the same transaction, and the
    # subscriptions it writes name the subscribers it has just inserted or looked up.
    "PRAGMA foreign_keys=OFF",
    "PRAGMA synchronous=NORMAL",  # as the engine: WAL, a committed batch survives a crash
    "PRAGMA cache_size=-32768",
    "PRAGMA temp_store=FILE",
    # A checkpoint (the only fsyncs with synchronous=NORMAL) once the WAL holds 64 MB instead of
    # 4 MB: the same durability per committed batch, a tenth of the fsyncs.
    "PRAGMA wal_autocheckpoint=16384",
)


class SqliteBulk:
    """``import_rows`` on one SQLite file; thread-safe (one batch at a time), blocking.

    With ``background_checkpoints`` (one import's writer process), the WAL is copied into the
    database file by a thread of its own (see checkpoint.Checkpointer).
    """

    def __init__(self, path: Path, *, background_checkpoints: bool = False) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._background = background_checkpoints
        self._checkpointer: Checkpointer | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self._path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            for pragma in _PRAGMAS:
                conn.execute(pragma)
            if self._background:
                conn.execute("PRAGMA wal_autocheckpoint=0")
                self._checkpointer = Checkpointer(self._path, BUSY_TIMEOUT_S)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            if self._conn is not None:
                # Copy the rest of the WAL and empty it here, not only in close(): closing the
                # last connection does it too, but silently gives up when another connection
                # (a reader, a pooled engine not yet collected) still has the file open.
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.close()
                self._conn = None

    def import_rows(
        self,
        rows: Sequence[BulkRow],
        options: ImportOptions,
        now: dt.datetime,
        session: ImportSession | None = None,
    ) -> tuple[ImportCounts, list[int]]:
        """Upsert one batch in one transaction, as ``Store.import_batch``.

        Return the counts and the positions of the rows that repeat an address met before
        (earlier in the batch, or with a session earlier in the import); without a session
        they are counted as skipped, with one they are left out of the counts.
        Raise NotFound for an unknown list id, StoreError when SQLite refuses the batch.
        """
        return self.import_columns(columns(rows), options, now, session)

    def import_columns(
        self,
        cols: BulkColumns,
        options: ImportOptions,
        now: dt.datetime,
        session: ImportSession | None = None,
    ) -> tuple[ImportCounts, list[int]]:
        """``import_rows`` for rows given as columns."""
        if not cols[0]:
            return ImportCounts(), []
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    counts, dups, (lo, hi) = run_batch(conn, cols, options, now, session)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                if self._checkpointer is not None:
                    self._checkpointer.after_commit(conn)
            except sqlite3.Error as exc:
                raise StoreError(f"database error on {self._path}: {exc}") from exc
            if session is not None:
                session.add_range(lo, hi)
            return counts, dups
