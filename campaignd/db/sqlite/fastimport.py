"""SQLite bulk import on a dedicated stdlib ``sqlite3`` connection, optionally in its own process.

``SqliteBulk.import_rows`` upserts one batch in one transaction with the counting of
``Store.import_batch``: new subscribers go in with one ``executemany`` (UUIDs version 7 made
here, attributes kept as the JSON text the file had), and their subscriptions with one
``INSERT ... SELECT`` over the ids above the largest id before the insert (the write lock is
held for the whole transaction, so those are exactly this batch's rows). Existing subscribers
(re-imports) are looked up per batch, as in ``campaignd.db.bulk``.

``BulkSession`` runs it in a child process (``python -m campaignd.db.sqlite.fastimport``) for one
CSV import, so SQLite's work and the CSV parsing in the parent use both cores without fighting
over one GIL. A session also finds the duplicate addresses of the whole import without keeping
them in memory: a row whose subscriber was inserted by an earlier batch of this session (its id
is in one of the session's id ranges) or was an existing subscriber already met (kept in a
temporary table on disk) is reported as a duplicate. Nothing here imports SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from campaignd.domain import (
    ImportCounts,
    ImportMode,
    ImportOptions,
    NewSubscriber,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.errors import CampaigndError, NotFound, StoreError
from campaignd.rules import plan_subscriptions

#: One row for the bulk path: (email, email_key, name, attributes as a JSON object text).
BulkRow = tuple[str, str, str, str]
#: The same rows as four parallel lists (what the writer works on: no tuple per row).
BulkColumns = tuple[list[str], list[str], list[str], list[str]]

_SEP = "\x00"  # csvrows rejects a row with a NUL, so no field holds one


def pack(fields: Sequence[str]) -> str:
    """Flat row fields (4 a row) as one string; ValueError if a field holds a NUL."""
    text = _SEP.join(fields)
    if fields and text.count(_SEP) != len(fields) - 1:
        raise ValueError("a field of an imported row holds a NUL character")
    return text


def unpack(text: str) -> BulkColumns:
    """The rows ``pack`` packed, as columns: (emails, email_keys, names, attributes)."""
    if not text:
        return [], [], [], []
    fields = text.split(_SEP)
    if len(fields) % 4:
        raise ValueError("packed rows do not come in fours")
    return fields[0::4], fields[1::4], fields[2::4], fields[3::4]


def bulk_rows(rows: Sequence[NewSubscriber]) -> list[BulkRow]:
    """Subscribers as the bulk path's rows (the store's import_batch on a SQLite file)."""
    return [(r.email, r.email.lower(), r.name, json.dumps(dict(r.attributes))) for r in rows]


def columns(rows: Sequence[BulkRow]) -> BulkColumns:
    """Rows as columns: (emails, email_keys, names, attributes)."""
    if not rows:
        return [], [], [], []
    emails, keys, names, attributes = zip(*rows, strict=True)
    return list(emails), list(keys), list(names), list(attributes)


BUSY_TIMEOUT_S = 30.0
_ENABLED = SubscriberStatus.ENABLED.value
_BLOCKLISTED = SubscriberStatus.BLOCKLISTED.value
_UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED.value
_CHUNK = 500  # SQL variables per IN (...) query
_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # as campaignd.db.types.SQLITE_FORMAT

_INSERT_NEW = """
INSERT INTO subscribers (uuid, email, email_key, name, attributes, status, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email_key) DO NOTHING
"""
_SUBSCRIBE_NEW = """
INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
SELECT s.id, l.value, ?, ?, ? FROM subscribers AS s CROSS JOIN json_each(?) AS l
WHERE s.id > ? ON CONFLICT (subscriber_id, list_id) DO NOTHING
"""
# The same for one list (the usual case) without json_each, which SQLite scans once per
# subscriber row: 0.7 instead of 1.0-1.2 us a row.
_SUBSCRIBE_NEW_ONE = """
INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
SELECT id, ?, ?, ?, ? FROM subscribers WHERE id > ? ON CONFLICT (subscriber_id, list_id) DO NOTHING
"""
_SELECT_EXISTING = (
    "SELECT email_key, id, status, name, attributes FROM subscribers WHERE email_key IN ({})"
)
_SELECT_SUBSCRIPTIONS = """
SELECT s.subscriber_id, s.list_id, s.status
FROM json_each(?) AS i CROSS JOIN json_each(?) AS l
JOIN subscriptions AS s ON s.subscriber_id = i.value AND s.list_id = l.value
"""
_INSERT_SUBSCRIPTION = (
    "INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (subscriber_id, list_id) DO NOTHING"
)
_UPDATE_SUBSCRIPTION = (
    "UPDATE subscriptions SET status = ?, updated_at = ? WHERE subscriber_id = ? AND list_id = ?"
)
_UPDATE_INFO = (
    "UPDATE subscribers SET name = ?, attributes = ?, status = ?, updated_at = ? WHERE id = ?"
)
_UPDATE_STATUS = "UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?"
_OPEN_SUBSCRIPTIONS = (
    "SELECT DISTINCT subscriber_id FROM subscriptions WHERE subscriber_id IN "
    f"(SELECT value FROM json_each(?)) AND status <> '{_UNSUBSCRIBED}'"
)
_UNSUBSCRIBE_ALL = (
    f"UPDATE subscriptions SET status = '{_UNSUBSCRIBED}', updated_at = ? WHERE subscriber_id IN "
    f"(SELECT value FROM json_each(?)) AND status <> '{_UNSUBSCRIBED}'"
)
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


@dataclass
class _Session:
    """What one import has done so far: the ids it inserted, and (on disk) the ids it met."""

    ranges: list[tuple[int, int]] = field(default_factory=list)  # (after, last] id ranges
    met_table: bool = False
    mostly_existing: bool = False  # the last batch was mostly rows already there (a re-import)

    def inserted_here(self, sid: int) -> bool:
        return any(lo < sid <= hi for lo, hi in self.ranges)

    def add_range(self, lo: int, hi: int) -> None:
        if hi <= lo:
            return
        if self.ranges and self.ranges[-1][1] == lo:
            self.ranges[-1] = (self.ranges[-1][0], hi)
        else:
            self.ranges.append((lo, hi))


#: WAL frames (64 MB at 4 KB pages) after which the WAL starts over, as the autocheckpoint.
_WAL_FRAMES = 16384
#: Commits between two background checkpoints (each syncs the files once).
_COMMITS_PER_CHECKPOINT = 2
#: Commits during one background checkpoint after which the writer waits for it to end
#: (a slow disk): the WAL stays bounded.
_COMMITS_BEHIND = 6


class _Checkpointer:
    """Copies the WAL into the database file on a thread of its own, beside the writer.

    The writer's connection has its autocheckpoint off. Every few commits the thread runs a
    passive checkpoint (SQLite runs it without the GIL, concurrently with the writer's next
    transactions). Once the WAL holds _WAL_FRAMES frames, the writer copies itself the few
    frames committed since the thread's last pass, and its next transaction starts the WAL
    over from its beginning: the autocheckpoint's bounded WAL, with most of the copying and
    the fsyncs off the writer's path. Should a pass take longer than _COMMITS_BEHIND
    commits, the writer waits for it.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._frames = 0  # frames in the WAL at the thread's last pass
        self._commits = 0
        self._thread = threading.Thread(target=self._loop, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            while True:
                with self._cond:
                    while not (self._busy or self._stopping):
                        self._cond.wait()
                    if self._stopping:
                        return
                try:
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    frames = _WAL_FRAMES  # let the writer's own checkpoint settle it
                with self._cond:
                    self._frames = frames
                    self._busy = False
                    self._cond.notify_all()
        finally:
            conn.close()

    def after_commit(self, conn: sqlite3.Connection) -> None:
        with self._cond:
            self._commits += 1
            if self._busy:
                if self._commits < _COMMITS_BEHIND:
                    return
                while self._busy:
                    self._cond.wait()
            finish = self._frames >= _WAL_FRAMES
            if finish:
                self._frames = self._commits = 0
            elif self._commits >= _COMMITS_PER_CHECKPOINT:
                self._commits = 0
                self._busy = True
                self._cond.notify()
        if finish:
            with contextlib.suppress(sqlite3.Error):  # the batch is committed whatever happens
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()


class SqliteBulk:
    """``import_rows`` on one SQLite file; thread-safe (one batch at a time), blocking.

    With ``background_checkpoints`` (one import's writer process), the WAL is copied into the
    database file by a thread of its own (see _Checkpointer).
    """

    def __init__(self, path: Path, *, background_checkpoints: bool = False) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._background = background_checkpoints
        self._checkpointer: _Checkpointer | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self._path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            for pragma in _PRAGMAS:
                conn.execute(pragma)
            if self._background:
                conn.execute("PRAGMA wal_autocheckpoint=0")
                self._checkpointer = _Checkpointer(self._path)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            if self._conn is not None:
                self._conn.close()  # the last connection: it checkpoints the rest
                self._conn = None

    def import_rows(
        self,
        rows: Sequence[BulkRow],
        options: ImportOptions,
        now: dt.datetime,
        session: _Session | None = None,
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
        session: _Session | None = None,
    ) -> tuple[ImportCounts, list[int]]:
        """``import_rows`` for rows given as columns."""
        if not cols[0]:
            return ImportCounts(), []
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    counts, dups, (lo, hi) = _run(conn, cols, options, now, session)
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


def _select_in(
    conn: sqlite3.Connection, query: str, values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """`query` has one `{}` for `?,?,...`; run it over `values` in chunks."""
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(values), _CHUNK):
        chunk = values[i : i + _CHUNK]
        out += conn.execute(query.format(",".join("?" * len(chunk))), chunk).fetchall()
    return out


# Version 7 in the high nibble of byte 6, the RFC 9562 variant (0b10) in the top bits of byte 8.
_VERSION_7 = bytes(0x70 | (b & 0x0F) for b in range(256))
_VARIANT = bytes(0x80 | (b & 0x3F) for b in range(256))


def _new_uuids(count: int, now: dt.datetime) -> list[str]:
    """Version 7 UUIDs as 32 hex digits (time-ordered: the unique index grows at its end).

    Built with slice assignments over one buffer (no Python step per UUID): the 48-bit
    millisecond time of the batch, then 74 random bits from os.urandom.
    """
    if count <= 0:
        return []
    ms = (int(now.timestamp() * 1000) & 0xFFFFFFFFFFFF).to_bytes(6, "big")
    rnd = bytearray(os.urandom(10 * count))
    rnd[0::10] = rnd[0::10].translate(_VERSION_7)
    rnd[2::10] = rnd[2::10].translate(_VARIANT)
    out = bytearray(16 * count)
    for k in range(6):
        out[k::16] = ms[k : k + 1] * count
    for j in range(10):
        out[6 + j :: 16] = rnd[j::10]
    return out.hex(" ", 16).split(" ")


def _run(
    conn: sqlite3.Connection,
    cols: BulkColumns,
    options: ImportOptions,
    now: dt.datetime,
    session: _Session | None,
) -> tuple[ImportCounts, list[int], tuple[int, int]]:
    """Insert first (the common case: no row exists yet, so no lookup at all), then look up
    the rows the insert left alone: they existed before this transaction."""
    ts = now.astimezone(dt.UTC).strftime(_SQLITE_FORMAT)
    blocklist = options.mode is ImportMode.BLOCKLIST
    list_ids = list(dict.fromkeys(options.list_ids))
    if list_ids and not blocklist:
        _require_lists(conn, list_ids)
    dups: list[int] = []
    emails, keys, names, attributes = cols
    row_keys = keys
    positions: dict[str, int] | None = None
    if len(set(keys)) == len(keys):
        unique_keys = keys
    else:  # a repeated address: the first row with it wins
        positions = {}
        for pos, key in enumerate(keys):
            if positions.setdefault(key, pos) != pos:
                dups.append(pos)
        first = list(positions.values())
        emails, keys, names, attributes = ([c[p] for p in first] for c in cols)
        unique_keys = keys

    (max_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM subscribers").fetchone()
    new_status = _BLOCKLISTED if blocklist else _ENABLED
    existing: list[tuple[Any, ...]] = []
    lookup_first = session is not None and session.mostly_existing
    if lookup_first:  # a re-import: most inserts would be refused, look the rows up first
        existing = _select_in(conn, _SELECT_EXISTING, unique_keys)
        if existing:
            known = {e[0] for e in existing}
            keep = [k not in known for k in keys]
            emails, keys, names, attributes = (
                list(compress(c, keep)) for c in (emails, keys, names, attributes)
            )
    uuids = _new_uuids(len(keys), now)
    inserted: int = conn.executemany(
        _INSERT_NEW,
        zip(uuids, emails, keys, names, attributes, repeat(new_status), repeat(ts), repeat(ts)),
    ).rowcount
    (last_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM subscribers").fetchone()
    if not lookup_first and inserted < len(keys):
        # The rows the insert left alone existed before this transaction (it holds the lock).
        existing = [e for e in _select_in(conn, _SELECT_EXISTING, keys) if e[1] <= max_id]
    if session is not None:
        session.mostly_existing = 2 * len(existing) > len(unique_keys)
    changed: set[int] = set()
    if existing:
        if positions is None:
            positions = {key: pos for pos, key in enumerate(row_keys)}
        if session is not None:
            existing = _drop_met(conn, session, existing, positions, dups)
        if existing:
            changed = _update_existing(conn, cols, positions, existing, options, ts)

    old_ids = [e[1] for e in existing]
    if blocklist and old_ids:
        ids = json.dumps(old_ids)
        changed.update(t[0] for t in conn.execute(_OPEN_SUBSCRIPTIONS, (ids,)))
        conn.execute(_UNSUBSCRIBE_ALL, (ts, ids))
    elif not blocklist and list_ids:
        status = options.status.value
        lists = json.dumps(list_ids)
        if inserted and len(list_ids) == 1:
            conn.execute(_SUBSCRIBE_NEW_ONE, (list_ids[0], status, ts, ts, max_id))
        elif inserted:
            conn.execute(_SUBSCRIBE_NEW, (status, ts, ts, lists, max_id))
        # Blocklisted subscribers are not put back on lists.
        eligible = [e[1] for e in existing if e[2] != _BLOCKLISTED]
        if eligible:
            changed |= _subscribe_existing(conn, eligible, list_ids, options, ts)
    updated = len(changed)
    skipped = len(existing) - updated + (0 if session is not None else len(dups))
    counts = ImportCounts(inserted=inserted, updated=updated, skipped=skipped)
    return counts, sorted(dups), (max_id, last_id)


def _drop_met(
    conn: sqlite3.Connection,
    session: _Session,
    existing: list[tuple[Any, ...]],
    positions: dict[str, int],
    dups: list[int],
) -> list[tuple[Any, ...]]:
    """Existing rows this import has met before become duplicates; the others are remembered."""
    if not session.met_table:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS import_met (id INTEGER PRIMARY KEY)")
        session.met_table = True
    candidates = [e for e in existing if not session.inserted_here(e[1])]
    met = {
        i
        for (i,) in _select_in(
            conn, "SELECT id FROM temp.import_met WHERE id IN ({})", [e[1] for e in candidates]
        )
    }
    keep: list[tuple[Any, ...]] = []
    for e in existing:
        if e[1] in met or session.inserted_here(e[1]):
            dups.append(positions.pop(e[0]))
        else:
            keep.append(e)
    conn.executemany("INSERT INTO temp.import_met (id) VALUES (?)", [(e[1],) for e in keep])
    return keep


def _require_lists(conn: sqlite3.Connection, list_ids: list[int]) -> None:
    found = {i for (i,) in _select_in(conn, "SELECT id FROM lists WHERE id IN ({})", list_ids)}
    missing = sorted(set(list_ids) - found)
    if missing:
        raise NotFound(f"no list with id {', '.join(map(str, missing))}")


def _update_existing(
    conn: sqlite3.Connection,
    cols: BulkColumns,
    positions: dict[str, int],
    existing: list[tuple[Any, ...]],
    options: ImportOptions,
    ts: str,
) -> set[int]:
    """Name/attributes (with overwrite_info, those in info_fields) and the blocklist status
    of existing rows."""
    blocklist = options.mode is ImportMode.BLOCKLIST
    fields = options.info_fields if options.overwrite_info else frozenset()
    set_name, set_attributes = "name" in fields, "attributes" in fields
    info: list[tuple[Any, ...]] = []
    status_only: list[tuple[Any, ...]] = []
    for key, sid, old_status, old_name, old_attributes in existing:
        pos = positions[key]
        name = cols[2][pos] if set_name else old_name
        attributes = cols[3][pos] if set_attributes else old_attributes
        status = _BLOCKLISTED if blocklist else old_status
        if (set_name or set_attributes) and (
            old_name != name or json.loads(old_attributes) != json.loads(attributes)
        ):
            info.append((name, attributes, status, ts, sid))
        elif status != old_status:
            status_only.append((status, ts, sid))
    if info:
        conn.executemany(_UPDATE_INFO, info)
    if status_only:
        conn.executemany(_UPDATE_STATUS, status_only)
    return {c[-1] for c in info + status_only}


def _subscribe_existing(
    conn: sqlite3.Connection,
    ids: list[int],
    list_ids: list[int],
    options: ImportOptions,
    ts: str,
) -> set[int]:
    """Subscribe existing subscribers to the chosen lists; return those changed."""
    status = options.status.value
    current = {
        (c[0], c[1]): c[2]
        for c in conn.execute(_SELECT_SUBSCRIPTIONS, (json.dumps(ids), json.dumps(list_ids)))
    }
    inserts, updates, changed = plan_subscriptions(
        ids, list_ids, current, status, options.overwrite_status, ts
    )
    if inserts:
        conn.executemany(_INSERT_SUBSCRIPTION, inserts)
    if updates:
        conn.executemany(_UPDATE_SUBSCRIPTION, updates)
    return changed


class BulkSession:
    """One import's writer: a child process that owns a SqliteBulk and the import's session.

    Batches are pipelined: ``submit`` hands a batch to the child and returns once it is on its
    way (it blocks while the child is still busy with the batch before), ``collect`` returns the
    answer to the oldest batch not yet collected, in submission order, raising as the child
    raised it (NotFound or StoreError; a refused batch wrote nothing). Call ``submit`` from one
    thread and ``collect`` from another, so that neither waits for the other.
    """

    def __init__(self, path: Path) -> None:
        writer = _take_spare() or _Writer()
        self._send, self._recv, self._proc = writer.send, writer.recv, writer.proc
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self._submitted = 0
        self._collected = 0
        try:
            self._send.send(str(path))
        except OSError as exc:
            self.close()
            raise StoreError(f"the import writer stopped: {exc}") from exc

    def submit(self, fields: Sequence[str], options: ImportOptions) -> None:
        """Hand one batch to the writer; ``collect`` gets its answer.

        The rows come flat (``email, email_key, name, attributes`` then the next row's) and
        travel as one string (see ``pack``): one copy instead of a pickled object per field.
        Raise StoreError when the writer has stopped (the batch is then not submitted).
        """
        now = dt.datetime.now(dt.UTC)
        packed = pack(fields)
        with self._send_lock:
            try:
                self._send.send((packed, options, now))
            except OSError as exc:
                raise StoreError(f"the import writer stopped: {exc}") from exc
            self._submitted += 1

    def collect(self) -> tuple[ImportCounts, list[int]]:
        """The oldest uncollected batch's (counts, duplicate positions), as
        ``SqliteBulk.import_rows`` with the session; raise NotFound or StoreError."""
        with self._recv_lock:
            if self._collected >= self._submitted:
                raise RuntimeError("collect() without a submitted batch")
            self._collected += 1
            try:
                answer = self._recv.recv()
            except (OSError, EOFError) as exc:
                raise StoreError(f"the import writer stopped: {exc or 'no answer'}") from exc
        kind, value = answer
        if kind == "ok":
            counts, dups = value
            return counts, dups
        if kind == "notfound":
            raise NotFound(value)
        raise StoreError(value)

    def import_rows(
        self, fields: Sequence[str], options: ImportOptions
    ) -> tuple[ImportCounts, list[int]]:
        """``submit`` then ``collect``: one batch at a time."""
        self.submit(fields, options)
        return self.collect()

    def close(self) -> None:
        """End the child (it commits nothing more) and wait for it."""
        _close_writer(self._send, self._recv, self._proc)


class _Writer:
    """A started writer child, waiting for the path of its database."""

    def __init__(self) -> None:
        child_in, out = os.pipe()
        in_, child_out = os.pipe()
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
                [
                    sys.executable,
                    "-m",
                    "campaignd.db.sqlite.fastimport",
                    str(child_in),
                    str(child_out),
                ],
                pass_fds=(child_in, child_out),
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            os.close(in_)
            os.close(out)
            raise StoreError(f"cannot start the import writer: {exc}") from exc
        finally:
            os.close(child_in)
            os.close(child_out)
        self.send = Connection(out, readable=False)
        self.recv = Connection(in_, writable=False)


_spare: _Writer | None = None
_spare_lock = threading.Lock()


def prestart() -> None:
    """Start a writer child now, for the next BulkSession of this process to use.

    Its interpreter start-up (~0.1 s) then overlaps the caller's. An unused spare ends when
    this process does (its pipe closes) or at ``discard_spare``.
    """
    global _spare
    with _spare_lock:
        if _spare is None:
            _spare = _Writer()


def discard_spare() -> None:
    """End a spare writer that no session took."""
    spare = _take_spare()
    if spare is not None:
        _close_writer(spare.send, spare.recv, spare.proc)


def _take_spare() -> _Writer | None:
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None and spare.proc.poll() is not None:
        _close_writer(spare.send, spare.recv, spare.proc)
        return None
    return spare


def _close_writer(send: Connection, recv: Connection, proc: subprocess.Popen[bytes]) -> None:
    send.close()
    recv.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _serve(inbox: Connection, outbox: Connection) -> None:
    try:
        path = Path(inbox.recv())
    except EOFError:
        return
    bulk = SqliteBulk(path, background_checkpoints=True)
    session = _Session()
    try:
        while True:
            try:
                packed, options, now = inbox.recv()
            except EOFError:
                return
            answer: tuple[str, Any]
            try:
                answer = ("ok", bulk.import_columns(unpack(packed), options, now, session))
            except NotFound as exc:
                answer = ("notfound", str(exc))
            except CampaigndError as exc:
                answer = ("error", str(exc))
            except Exception as exc:  # reported to the parent, which goes on
                answer = ("error", f"{type(exc).__name__}: {exc}")
            outbox.send(answer)
    finally:
        bulk.close()


if __name__ == "__main__":
    _serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
    )
