"""Bulk subscriber import: one batch upserted with a handful of set-based driver statements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db.raw import Raw
from campaignd.domain import (
    ImportCounts,
    ImportMode,
    ImportOptions,
    NewSubscriber,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.rules import plan_subscriptions

_ENABLED = SubscriberStatus.ENABLED.value
_BLOCKLISTED = SubscriberStatus.BLOCKLISTED.value
_UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED.value

_INSERT_SUBSCRIBER = """
INSERT INTO subscribers (uuid, email, email_key, name, attributes, status, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (email_key) DO NOTHING
"""
_INSERT_SUBSCRIBERS_PG = """
INSERT INTO subscribers (uuid, email, email_key, name, attributes, status, created_at, updated_at)
SELECT v.u, v.e, v.k, v.n, CAST(v.a AS json), ?, ?, ?
FROM unnest(
    CAST(? AS uuid[]), CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[])
) AS v(u, e, k, n, a)
ON CONFLICT (email_key) DO NOTHING
"""
_UPDATE_INFO = (
    "UPDATE subscribers SET name = ?, attributes = ?, status = ?, updated_at = ? WHERE id = ?"
)
_UPDATE_STATUS = "UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?"
_UPDATE_SUBSCRIPTION = (
    "UPDATE subscriptions SET status = ?, updated_at = ? WHERE subscriber_id = ? AND list_id = ?"
)


class Importer:
    """import_batch for one dialect."""

    def __init__(self, dialect: str) -> None:
        self.raw = r = Raw(dialect)
        self._select_existing = (
            "SELECT s.id, s.email_key, s.status, s.name, s.attributes FROM "
            + r.rows_of("k")
            + " JOIN subscribers s ON s.email_key = k.value"
        )
        # New subscribers join the lists set-based: no ids travel back to Python.
        self._subscribe_new = (
            "INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) "
            f"SELECT s.id, l.value, ?, {r.cast_ts()}, {r.cast_ts()} FROM "
            + r.rows_of("l", "integer")
            + " CROSS JOIN "
            + r.rows_of("k")
            + " JOIN subscribers s ON s.email_key = k.value"
            + f" WHERE s.status <> '{_BLOCKLISTED}'"
            " ON CONFLICT (subscriber_id, list_id) DO NOTHING"
        )
        self._select_subscriptions = (
            "SELECT s.subscriber_id, s.list_id, s.status FROM "
            + r.rows_of("i", "integer")
            + " CROSS JOIN "
            + r.rows_of("l", "integer")
            + " JOIN subscriptions s ON s.subscriber_id = i.value AND s.list_id = l.value"
        )
        self._insert_subscription = (
            "INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (subscriber_id, list_id) DO NOTHING"
        )
        self._open_subscriptions = (
            "SELECT DISTINCT subscriber_id FROM subscriptions WHERE "
            + r.in_("subscriber_id", "integer")
            + f" AND status <> '{_UNSUBSCRIBED}'"
        )
        self._unsubscribe_all = (
            f"UPDATE subscriptions SET status = '{_UNSUBSCRIBED}', updated_at = ? WHERE "
            + r.in_("subscriber_id", "integer")
            + f" AND status <> '{_UNSUBSCRIBED}'"
        )

    async def run(
        self,
        conn: AsyncConnection,
        rows: Sequence[NewSubscriber],
        options: ImportOptions,
        now: dt.datetime,
    ) -> ImportCounts:
        r = self.raw
        ts = r.ts(now)
        blocklist = options.mode is ImportMode.BLOCKLIST
        batch: dict[str, NewSubscriber] = {}
        for row in rows:
            batch.setdefault(row.email.lower(), row)
        duplicates = len(rows) - len(batch)

        result = await r.run(conn, self._select_existing, (r.array(list(batch)),))
        existing = {e[1]: e for e in result.all()}  # key -> (id, key, status, name, attributes)

        new_status = _BLOCKLISTED if blocklist else _ENABLED
        new, info, status_only = self._plan(batch, existing, options, new_status, ts)
        changed: set[int] = {c[-1] for c in info + status_only}
        if info:
            await r.run(conn, _UPDATE_INFO, info)
        if status_only:
            await r.run(conn, _UPDATE_STATUS, status_only)
        if new and r.pg:  # one statement over arrays: far cheaper than 1000 pipelined INSERTs
            uuids_, emails, keys, names, attrs, *_ = zip(*new, strict=True)
            params = (new_status, ts, ts, list(uuids_), list(emails), list(keys), list(names))
            await r.run(conn, _INSERT_SUBSCRIBERS_PG, (*params, list(attrs)))
        elif new:
            await r.run(conn, _INSERT_SUBSCRIBER, new)
        changed |= await self._subscriptions(conn, new, list(existing.values()), options, ts)

        updated = len(changed)
        return ImportCounts(
            inserted=len(new), updated=updated, skipped=len(existing) - updated + duplicates
        )

    def _plan(
        self,
        batch: dict[str, NewSubscriber],
        existing: dict[str, Any],
        options: ImportOptions,
        new_status: str,
        ts: Any,
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """(new rows, existing rows whose name/attributes (and status) are replaced, existing
        rows whose status alone changes), as the statements' parameters."""
        r = self.raw
        blocklist = options.mode is ImportMode.BLOCKLIST
        new: list[tuple[Any, ...]] = []
        info: list[tuple[Any, ...]] = []
        status_only: list[tuple[Any, ...]] = []
        uuids = r.new_uuids(len(batch) - len(existing))
        fields = options.info_fields if options.overwrite_info else frozenset()
        set_name, set_attributes = "name" in fields, "attributes" in fields
        for key, row in batch.items():
            old = existing.get(key)
            if old is None:
                new.append(
                    (
                        uuids[len(new)],
                        row.email,
                        key,
                        row.name,
                        r.json(dict(row.attributes)) if row.attributes else "{}",
                        new_status,
                        ts,
                        ts,
                    )
                )
                continue
            sid, _key, old_status, old_name, old_attributes = old
            status = _BLOCKLISTED if blocklist else old_status
            name = row.name if set_name else old_name
            attributes = dict(row.attributes) if set_attributes else r.to_json(old_attributes)
            if (set_name or set_attributes) and (
                old_name != name or r.to_json(old_attributes) != attributes
            ):
                info.append((name, r.json(attributes), status, ts, sid))
            elif status != old_status:
                status_only.append((status, ts, sid))
        return new, info, status_only

    async def _subscriptions(
        self,
        conn: AsyncConnection,
        new: list[tuple[Any, ...]],
        existing: list[Any],
        options: ImportOptions,
        ts: Any,
    ) -> set[int]:
        """Blocklist: end the existing rows' subscriptions. Otherwise subscribe the new rows
        and the existing ones not blocklisted to the lists. Return the ids changed."""
        r = self.raw
        changed: set[int] = set()
        blocklist = options.mode is ImportMode.BLOCKLIST
        old_ids = [e[0] for e in existing]
        if blocklist and old_ids:
            ids = r.array(old_ids)
            touched = await r.run(conn, self._open_subscriptions, (ids,))
            changed.update(t[0] for t in touched.all())
            await r.run(conn, self._unsubscribe_all, (ts, ids))
        elif not blocklist and options.list_ids:
            status = options.status.value
            lists = r.array(list(dict.fromkeys(options.list_ids)))
            if new:
                keys = r.array([n[2] for n in new])
                await r.run(conn, self._subscribe_new, (status, ts, ts, lists, keys))
            # Blocklisted subscribers are not put back on lists.
            eligible = [e[0] for e in existing if e[2] != _BLOCKLISTED]
            if eligible:
                changed |= await self._subscribe_existing(conn, eligible, options, ts)
        return changed

    async def _subscribe_existing(
        self, conn: AsyncConnection, ids: list[int], options: ImportOptions, ts: Any
    ) -> set[int]:
        """Subscribe existing subscribers to the chosen lists; return those changed."""
        r = self.raw
        status = options.status.value
        list_ids = list(dict.fromkeys(options.list_ids))
        result = await r.run(conn, self._select_subscriptions, (r.array(ids), r.array(list_ids)))
        current = {(c[0], c[1]): c[2] for c in result.all()}
        inserts, updates, changed = plan_subscriptions(
            ids, list_ids, current, status, options.overwrite_status, ts
        )
        if inserts:
            await r.run(conn, self._insert_subscription, inserts)
        if updates:
            await r.run(conn, _UPDATE_SUBSCRIPTION, updates)
        return changed
