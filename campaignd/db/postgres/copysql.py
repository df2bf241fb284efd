"""The SQL of one PostgreSQL import batch on an asyncpg connection, in the caller's transaction.

The batch is copied (COPY, binary) into a temporary staging table that empties at each commit;
one statement then inserts the new subscribers from it (UUIDs version 7 made by the client),
subscribes them to the lists and, in a session, records their ids in a second temporary table,
``MET``. Rows the insert left alone existed before the batch: they are looked up (only then)
and handled with the same rules as ``campaignd.db.sqlite.upsert``.

That insert first goes without ``ON CONFLICT`` when the batch is guessed all new
(``FreshGuess``): a plain INSERT costs the server ~1.9 us a row less than a speculative one (the
arbiter index probed, then inserted). It runs in a savepoint; a unique violation rolls it back
and the batch is inserted again with ``ON CONFLICT (email_key) DO NOTHING``, so the result is
the same either way, only slower for the batch that guessed wrong. In a session a row whose
subscriber id is already in ``MET`` was met by an earlier batch of the import: a duplicate.
Both tables live on the server, so the client keeps nothing per address between batches; a
refused batch rolls its rows out of ``MET`` with the rest of its transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from campaignd.db.sqlite.upsert import _new_uuids as new_uuids  # the SQLite import's UUIDs
from campaignd.domain import (
    ImportCounts,
    ImportMode,
    ImportOptions,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.errors import NotFound
from campaignd.rules import plan_subscriptions

#: One batch as four parallel lists: emails, email keys, names, attributes (JSON object text).
Columns = tuple[list[str], list[str], list[str], list[str]]

STAGE = "campaignd_import_rows"
MET = "campaignd_import_met"
_STAGE_COLUMNS = ("pos", "uuid", "email", "email_key", "name", "attributes")

_ENABLED = SubscriberStatus.ENABLED.value
_BLOCKLISTED = SubscriberStatus.BLOCKLISTED.value
_UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED.value

#: Run once per connection, outside a transaction.
SETUP = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} (pos integer NOT NULL, uuid uuid NOT NULL, "
    "email text NOT NULL, "
    "email_key text NOT NULL, name text NOT NULL, attributes text NOT NULL) ON COMMIT DELETE ROWS",
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {MET} (id integer PRIMARY KEY)",
)

# The lists are locked as the foreign keys' checks would (they may be off on the import's
# connection) in the statement itself, and the ids found returned: one round trip less a batch.
_INSERT_NEW = f"""
WITH lst AS (
    SELECT id FROM lists WHERE id = ANY($4::integer[]) FOR KEY SHARE
), ins AS (
    INSERT INTO subscribers
        (uuid, email, email_key, name, attributes, status, created_at, updated_at)
    SELECT r.uuid, r.email, r.email_key, r.name, r.attributes::json, $1::text,
        $2::timestamptz, $2::timestamptz
    FROM {STAGE} AS r ORDER BY r.pos
    {{conflict}}
    RETURNING id
), sub AS (
    INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
    SELECT ins.id, l.id, $3::text, $2::timestamptz, $2::timestamptz
    FROM ins CROSS JOIN lst AS l
){{met}}
SELECT coalesce(array_agg(id), '{{{{}}}}'), (SELECT coalesce(array_agg(id), '{{{{}}}}') FROM lst)
FROM ins
"""
_MET_NEW = f", met AS (INSERT INTO {MET} (id) SELECT id FROM ins)"
_ON_CONFLICT = "ON CONFLICT (email_key) DO NOTHING"
#: (plain, with ON CONFLICT), in a session and alone.
_INSERT_SESSION = (
    _INSERT_NEW.format(conflict="", met=_MET_NEW),
    _INSERT_NEW.format(conflict=_ON_CONFLICT, met=_MET_NEW),
)
_INSERT_ALONE = (
    _INSERT_NEW.format(conflict="", met=""),
    _INSERT_NEW.format(conflict=_ON_CONFLICT, met=""),
)
# Joined from the keys (not `= ANY`): index nested loops whatever the table's statistics say.
_SELECT_EXISTING = """
SELECT s.id, s.email_key, s.status, s.name, s.attributes::text, {met}
FROM unnest($1::text[]) AS k(value) JOIN subscribers AS s ON s.email_key = k.value
FOR KEY SHARE OF s
"""
_SELECT_EXISTING_SESSION = _SELECT_EXISTING.format(
    met=f"EXISTS (SELECT 1 FROM {MET} AS m WHERE m.id = s.id)"
)
_SELECT_EXISTING_ALONE = _SELECT_EXISTING.format(met="false")
_REMEMBER = f"INSERT INTO {MET} (id) SELECT unnest($1::integer[])"
_UPDATE_INFO = """
UPDATE subscribers AS s SET name = v.name, attributes = v.attributes::json, status = v.status,
    updated_at = $1::timestamptz
FROM unnest($2::integer[], $3::text[], $4::text[], $5::text[]) AS v(id, name, attributes, status)
WHERE s.id = v.id
"""
_UPDATE_STATUS = """
UPDATE subscribers AS s SET status = v.status, updated_at = $1::timestamptz
FROM unnest($2::integer[], $3::text[]) AS v(id, status) WHERE s.id = v.id
"""
_UNSUBSCRIBE_ALL = f"""
WITH u AS (
    UPDATE subscriptions SET status = '{_UNSUBSCRIBED}', updated_at = $1::timestamptz
    WHERE subscriber_id IN (SELECT unnest($2::integer[])) AND status <> '{_UNSUBSCRIBED}'
    RETURNING subscriber_id
)
SELECT DISTINCT subscriber_id FROM u
"""
_SELECT_SUBSCRIPTIONS = """
SELECT s.subscriber_id, s.list_id, s.status
FROM unnest($1::integer[]) AS i(value) CROSS JOIN unnest($2::integer[]) AS l(value)
JOIN subscriptions AS s ON s.subscriber_id = i.value AND s.list_id = l.value
"""
_INSERT_SUBSCRIPTIONS = """
INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
SELECT v.sid, v.lid, $1::text, $2::timestamptz, $2::timestamptz
FROM unnest($3::integer[], $4::integer[]) AS v(sid, lid)
ON CONFLICT (subscriber_id, list_id) DO NOTHING
"""
_UPDATE_SUBSCRIPTIONS = """
UPDATE subscriptions AS s SET status = $1::text, updated_at = $2::timestamptz
FROM unnest($3::integer[], $4::integer[]) AS v(sid, lid)
WHERE s.subscriber_id = v.sid AND s.list_id = v.lid
"""

#: An existing subscriber: (id, email_key, status, name, attributes text, met before).
_Existing = tuple[int, str, str, str, str, bool]


class FreshGuess:
    """Whether to insert the next batch of an import as all new (a plain INSERT).

    Pure bookkeeping, one per import. It starts hopeful: a new list's file is all new. A wrong
    guess costs its batch's plain insert, rolled back, and one ``duplicate key`` ERROR line in
    the server's log; after the k-th wrong guess the next 2**k batches that turn out all new
    are inserted with ``ON CONFLICT`` before the next guess, and a batch that meets existing
    subscribers does not count, so a re-import of existing subscribers guesses wrong once.
    """

    def __init__(self) -> None:
        self.wrong = 0
        self._wait = 0

    def plain(self) -> bool:
        """Try the next batch as all new?"""
        return self._wait == 0

    def record(self, tried: bool, all_new: bool) -> None:
        """The batch's outcome: tried as all new (``tried``), and whether it was."""
        if tried and not all_new:
            self.wrong += 1
            self._wait = 2**self.wrong
        elif all_new and self._wait:
            self._wait -= 1


async def run_batch(
    conn: asyncpg.Connection,
    cols: Columns,
    options: ImportOptions,
    now: dt.datetime,
    session: bool,
    guess: FreshGuess | None = None,
) -> tuple[ImportCounts, list[int]]:
    """Upsert one batch inside the caller's transaction, as ``Store.import_batch``.

    Return the counts and the positions of the rows that repeat an address met before (earlier
    in the batch, or in a session earlier in the import); without a session they are counted
    as skipped, in one they are left out of the counts. Raise NotFound for an unknown list id.
    With a ``guess``, the batch is first inserted without ON CONFLICT when it says so.
    """
    blocklist = options.mode is ImportMode.BLOCKLIST
    list_ids = list(dict.fromkeys(options.list_ids))
    dups: list[int] = []
    first = _first_positions(cols[1], dups)
    await _copy(conn, cols, first, now)
    args = (
        _BLOCKLISTED if blocklist else _ENABLED,
        now,
        options.status.value,
        [] if blocklist else list_ids,
    )
    plain, careful = _INSERT_SESSION if session else _INSERT_ALONE
    tried = guess is not None and guess.plain()
    inserted = await _insert_plain(conn, plain, args) if tried else None
    if inserted is None:
        inserted = tuple(await conn.fetchrow(careful, *args))
    new_ids, found = inserted
    _require_lists(args[3], found)
    unique = len(cols[1]) if first is None else len(first)
    if guess is not None:
        guess.record(tried, len(new_ids) == unique)
    existing: list[_Existing] = []
    if len(new_ids) < unique:
        existing = await _existing(conn, cols[1], first, set(new_ids), session)
    changed: set[int] = set()
    if existing:
        positions = {key: pos for pos, key in enumerate(cols[1])} if first is None else first
        if session:
            existing = await _drop_met(conn, existing, positions, dups)
        changed = await _update_existing(conn, cols, positions, existing, options, now)
        changed |= await _subscriptions(conn, existing, list_ids, options, now)
    updated = len(changed)
    skipped = len(existing) - updated + (0 if session else len(dups))
    return ImportCounts(inserted=len(new_ids), updated=updated, skipped=skipped), sorted(dups)


async def _insert_plain(
    conn: asyncpg.Connection, statement: str, args: tuple[Any, ...]
) -> tuple[list[int], list[int]] | None:
    """The staged rows inserted without ON CONFLICT, in a savepoint: (their ids, the lists
    found); None (rolled back) if one of them was already there."""
    try:
        async with conn.transaction():
            row = await conn.fetchrow(statement, *args)
    except asyncpg.UniqueViolationError:
        return None
    return row[0], row[1]


def _first_positions(keys: list[str], dups: list[int]) -> dict[str, int] | None:
    """None when every key is unique in the batch (the usual case); otherwise the position of
    each key's first row, the later rows' positions going to ``dups``."""
    if len(set(keys)) == len(keys):
        return None
    first: dict[str, int] = {}
    for pos, key in enumerate(keys):
        if first.setdefault(key, pos) != pos:
            dups.append(pos)
    return first


async def _copy(
    conn: asyncpg.Connection, cols: Columns, first: dict[str, int] | None, now: dt.datetime
) -> None:
    """The batch's rows (the first of each address) into the staging table, each with a UUID
    for the case it is new (made here: the server's own would cost it ~1.5 us a row)."""
    emails, keys, names, attributes = cols
    if first is None:
        uuids = new_uuids(len(keys), now)
        records: Any = zip(range(len(keys)), uuids, emails, keys, names, attributes, strict=True)
    else:
        uuids = new_uuids(len(first), now)
        records = (
            (p, u, emails[p], keys[p], names[p], attributes[p])
            for u, p in zip(uuids, first.values(), strict=True)
        )
    await conn.copy_records_to_table(STAGE, records=records, columns=_STAGE_COLUMNS)


def _require_lists(list_ids: list[int], found: list[int]) -> None:
    """NotFound (the caller's transaction rolls back) unless every list was there."""
    missing = sorted(set(list_ids) - set(found))
    if missing:
        raise NotFound(f"no list with id {', '.join(map(str, missing))}")


async def _existing(
    conn: asyncpg.Connection,
    keys: list[str],
    first: dict[str, int] | None,
    new_ids: set[int],
    session: bool,
) -> list[_Existing]:
    """The batch's subscribers that existed before its insert."""
    unique = keys if first is None else list(first)
    rows = await conn.fetch(_SELECT_EXISTING_SESSION if session else _SELECT_EXISTING_ALONE, unique)
    return [
        (r[0], r[1], r[2], r[3], r[4], r[5])
        for r in sorted(rows, key=lambda r: r[0])
        if r[0] not in new_ids
    ]


async def _drop_met(
    conn: asyncpg.Connection,
    existing: list[_Existing],
    positions: dict[str, int],
    dups: list[int],
) -> list[_Existing]:
    """Existing rows this import has met before become duplicates; the others are remembered."""
    keep: list[_Existing] = []
    for e in existing:
        if e[5]:
            dups.append(positions.pop(e[1]))
        else:
            keep.append(e)
    if keep:
        await conn.execute(_REMEMBER, [e[0] for e in keep])
    return keep


async def _update_existing(
    conn: asyncpg.Connection,
    cols: Columns,
    positions: dict[str, int],
    existing: list[_Existing],
    options: ImportOptions,
    now: dt.datetime,
) -> set[int]:
    """Name/attributes (with overwrite_info, those in info_fields) and the blocklist status of
    existing rows, as ``db.sqlite.upsert``: attributes compared as parsed JSON."""
    blocklist = options.mode is ImportMode.BLOCKLIST
    fields = options.info_fields if options.overwrite_info else frozenset()
    set_name, set_attributes = "name" in fields, "attributes" in fields
    info: list[tuple[int, str, str, str]] = []
    status_only: list[tuple[int, str]] = []
    for sid, key, old_status, old_name, old_attributes, _met in existing:
        pos = positions[key]
        name = cols[2][pos] if set_name else old_name
        attributes = cols[3][pos] if set_attributes else old_attributes
        status = _BLOCKLISTED if blocklist else old_status
        if (set_name or set_attributes) and (
            old_name != name or json.loads(old_attributes) != json.loads(attributes)
        ):
            info.append((sid, name, attributes, status))
        elif status != old_status:
            status_only.append((sid, status))
    if info:
        await conn.execute(_UPDATE_INFO, now, *_columns(info, 4))
    if status_only:
        await conn.execute(_UPDATE_STATUS, now, *_columns(status_only, 2))
    return {c[0] for c in info} | {c[0] for c in status_only}


async def _subscriptions(
    conn: asyncpg.Connection,
    existing: list[_Existing],
    list_ids: list[int],
    options: ImportOptions,
    now: dt.datetime,
) -> set[int]:
    """Blocklist: end the existing rows' subscriptions. Otherwise subscribe the existing ones
    not blocklisted (the new ones were subscribed with their insert). Return the ids changed."""
    if not existing:
        return set()
    if options.mode is ImportMode.BLOCKLIST:
        rows = await conn.fetch(_UNSUBSCRIBE_ALL, now, [e[0] for e in existing])
        return {r[0] for r in rows}
    # Blocklisted subscribers are not put back on lists.
    eligible = [e[0] for e in existing if e[2] != _BLOCKLISTED]
    if not (list_ids and eligible):
        return set()
    status = options.status.value
    current = {
        (r[0], r[1]): r[2] for r in await conn.fetch(_SELECT_SUBSCRIPTIONS, eligible, list_ids)
    }
    inserts, updates, changed = plan_subscriptions(
        eligible, list_ids, current, status, options.overwrite_status, now
    )
    if inserts:
        await conn.execute(_INSERT_SUBSCRIPTIONS, status, now, *_columns(inserts, 2))
    if updates:
        pairs = [(u[2], u[3]) for u in updates]
        await conn.execute(_UPDATE_SUBSCRIPTIONS, status, now, *_columns(pairs, 2))
    return changed


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """The first ``width`` fields of the rows as that many lists (unnest's arrays)."""
    return [[row[i] for row in rows] for i in range(width)]
