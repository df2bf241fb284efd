"""The SQL of one bulk import batch on a stdlib sqlite3 connection, in the caller's transaction.

New subscribers go in with one ``executemany`` (UUIDs version 7 made here, attributes kept as
the JSON text the file had), and their subscriptions with one ``INSERT ... SELECT`` over the ids
above the largest id before the insert (the write lock is held for the whole transaction, so
those are exactly this batch's rows). Existing subscribers (re-imports) are looked up per batch,
as in ``campaignd.db.bulk``. With an ``ImportSession`` the duplicates of the whole import are
found without keeping them in memory: a row whose subscriber was inserted by an earlier batch
of the session (its id is in one of the session's id ranges) or was an existing subscriber
already met (kept in a temporary table on disk) is reported as a duplicate.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any

from campaignd.db.sqlite.bulkrows import BulkColumns
from campaignd.domain import (
    ImportCounts,
    ImportMode,
    ImportOptions,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.errors import NotFound
from campaignd.rules import plan_subscriptions

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


@dataclass
class ImportSession:
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


_MAX_ID = "SELECT coalesce(max(id), 0) FROM subscribers"


def run_batch(
    conn: sqlite3.Connection,
    cols: BulkColumns,
    options: ImportOptions,
    now: dt.datetime,
    session: ImportSession | None,
) -> tuple[ImportCounts, list[int], tuple[int, int]]:
    """Upsert one batch inside the caller's transaction, as ``Store.import_batch``.

    Return the counts, the positions of the duplicate rows, and the (after, last] range of the
    ids inserted. Insert first (the common case: no row exists yet, so no lookup at all), then
    look up the rows the insert left alone: they existed before this transaction.
    """
    ts = now.astimezone(dt.UTC).strftime(_SQLITE_FORMAT)
    blocklist = options.mode is ImportMode.BLOCKLIST
    list_ids = list(dict.fromkeys(options.list_ids))
    if list_ids and not blocklist:
        _require_lists(conn, list_ids)
    dups: list[int] = []
    unique, positions = _first_rows(cols, dups)
    (max_id,) = conn.execute(_MAX_ID).fetchone()
    new_status = _BLOCKLISTED if blocklist else _ENABLED
    inserted, existing, last_id = _insert_new(conn, unique, new_status, ts, now, session, max_id)
    changed: set[int] = set()
    if existing:
        if positions is None:
            positions = {key: pos for pos, key in enumerate(cols[1])}
        if session is not None:
            existing = _drop_met(conn, session, existing, positions, dups)
        if existing:
            changed = _update_existing(conn, cols, positions, existing, options, ts)
    changed |= _subscriptions(conn, existing, bool(inserted), list_ids, options, ts, max_id)
    updated = len(changed)
    skipped = len(existing) - updated + (0 if session is not None else len(dups))
    counts = ImportCounts(inserted=inserted, updated=updated, skipped=skipped)
    return counts, sorted(dups), (max_id, last_id)


def _first_rows(cols: BulkColumns, dups: list[int]) -> tuple[BulkColumns, dict[str, int] | None]:
    """The rows whose address comes first in the batch (the first row with it wins; the later
    rows' positions go to ``dups``), and the positions by key when they had to be computed."""
    keys = cols[1]
    if len(set(keys)) == len(keys):
        return cols, None
    positions: dict[str, int] = {}
    for pos, key in enumerate(keys):
        if positions.setdefault(key, pos) != pos:
            dups.append(pos)
    first = list(positions.values())
    emails, keys, names, attributes = ([c[p] for p in first] for c in cols)
    return (emails, keys, names, attributes), positions


def _insert_new(
    conn: sqlite3.Connection,
    cols: BulkColumns,
    new_status: str,
    ts: str,
    now: dt.datetime,
    session: ImportSession | None,
    max_id: int,
) -> tuple[int, list[tuple[Any, ...]], int]:
    """Insert the rows (unique by address) that are new; return (inserted, the rows that
    existed before this transaction, the largest id after the insert).

    A re-import (the session's last batch was mostly existing rows) looks the rows up first
    instead of having most of its inserts refused.
    """
    emails, keys, names, attributes = cols
    unique_keys = keys
    existing: list[tuple[Any, ...]] = []
    lookup_first = session is not None and session.mostly_existing
    if lookup_first:
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
    (last_id,) = conn.execute(_MAX_ID).fetchone()
    if not lookup_first and inserted < len(keys):
        # The rows the insert left alone existed before this transaction (it holds the lock).
        existing = [e for e in _select_in(conn, _SELECT_EXISTING, keys) if e[1] <= max_id]
    if session is not None:
        session.mostly_existing = 2 * len(existing) > len(unique_keys)
    return inserted, existing, last_id


def _subscriptions(
    conn: sqlite3.Connection,
    existing: list[tuple[Any, ...]],
    any_inserted: bool,
    list_ids: list[int],
    options: ImportOptions,
    ts: str,
    max_id: int,
) -> set[int]:
    """Blocklist: end the existing rows' subscriptions. Otherwise subscribe the new rows (the
    ids above max_id) and the existing ones not blocklisted. Return the ids changed."""
    changed: set[int] = set()
    blocklist = options.mode is ImportMode.BLOCKLIST
    old_ids = [e[1] for e in existing]
    if blocklist and old_ids:
        ids = json.dumps(old_ids)
        changed.update(t[0] for t in conn.execute(_OPEN_SUBSCRIPTIONS, (ids,)))
        conn.execute(_UNSUBSCRIBE_ALL, (ts, ids))
    elif not blocklist and list_ids:
        status = options.status.value
        lists = json.dumps(list_ids)
        if any_inserted and len(list_ids) == 1:
            conn.execute(_SUBSCRIBE_NEW_ONE, (list_ids[0], status, ts, ts, max_id))
        elif any_inserted:
            conn.execute(_SUBSCRIBE_NEW, (status, ts, ts, lists, max_id))
        # Blocklisted subscribers are not put back on lists.
        eligible = [e[1] for e in existing if e[2] != _BLOCKLISTED]
        if eligible:
            changed |= _subscribe_existing(conn, eligible, list_ids, options, ts)
    return changed


def _drop_met(
    conn: sqlite3.Connection,
    session: ImportSession,
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
