"""Bulk subscriber import: one batch upserted with a handful of set-based statements."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tables as T
from campaignd.domain import (
    ImportCounts,
    ImportMode,
    NewSubscriber,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.store.protocol import ImportOptions

_ENABLED = SubscriberStatus.ENABLED.value
_BLOCKLISTED = SubscriberStatus.BLOCKLISTED.value
_UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED.value


def upsert(dialect: str, table: Any) -> Any:
    """INSERT for `dialect` that supports ON CONFLICT."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class Importer:
    """Prepared statements for import_batch on one dialect."""

    def __init__(self, dialect: str) -> None:
        s, sl = T.subscribers.c, T.subscriptions.c
        self._insert_subscribers = upsert(dialect, T.subscribers).on_conflict_do_nothing(
            index_elements=[s.email_key]
        )
        self._insert_subscriptions = upsert(dialect, T.subscriptions).on_conflict_do_nothing(
            index_elements=[sl.subscriber_id, sl.list_id]
        )
        self._update_info = (
            update(T.subscribers)
            .where(s.id == bindparam("_id"))
            .values(
                name=bindparam("_name"),
                attributes=bindparam("_attributes", type_=s.attributes.type),
                status=bindparam("_status"),
                updated_at=bindparam("_now", type_=s.updated_at.type),
            )
        )
        self._update_status = (
            update(T.subscribers)
            .where(s.id == bindparam("_id"))
            .values(
                status=bindparam("_status"), updated_at=bindparam("_now", type_=s.updated_at.type)
            )
        )
        self._update_subscription = (
            update(T.subscriptions)
            .where(sl.subscriber_id == bindparam("_sid"), sl.list_id == bindparam("_lid"))
            .values(
                status=bindparam("_status"), updated_at=bindparam("_now", type_=sl.updated_at.type)
            )
        )

    async def run(
        self,
        conn: AsyncConnection,
        rows: Sequence[NewSubscriber],
        options: ImportOptions,
        now: dt.datetime,
    ) -> ImportCounts:
        s, sl = T.subscribers.c, T.subscriptions.c
        blocklist = options.mode is ImportMode.BLOCKLIST
        batch: dict[str, NewSubscriber] = {}
        for row in rows:
            batch.setdefault(row.email.lower(), row)
        duplicates = len(rows) - len(batch)

        cols = [s.id, s.email_key, s.status]
        if options.overwrite_info:
            cols += [s.name, s.attributes]
        existing = {
            r.email_key: r
            for r in await conn.execute(select(*cols).where(s.email_key.in_(list(batch))))
        }

        new: list[dict[str, Any]] = []
        info: list[dict[str, Any]] = []  # name/attributes (and status) replaced
        status_only: list[dict[str, Any]] = []
        for key, row in batch.items():
            old = existing.get(key)
            if old is None:
                new.append(
                    {
                        "uuid": uuid.uuid4(),
                        "email": row.email,
                        "email_key": key,
                        "name": row.name,
                        "attributes": dict(row.attributes),
                        "status": _BLOCKLISTED if blocklist else _ENABLED,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                continue
            status = _BLOCKLISTED if blocklist else old.status
            attributes = dict(row.attributes)
            if options.overwrite_info and (old.name != row.name or old.attributes != attributes):
                info.append(
                    {
                        "_id": old.id,
                        "_name": row.name,
                        "_attributes": attributes,
                        "_status": status,
                        "_now": now,
                    }
                )
            elif status != old.status:
                status_only.append({"_id": old.id, "_status": status, "_now": now})
        changed: set[int] = {c["_id"] for c in info + status_only}
        if info:
            await conn.execute(self._update_info, info)
        if status_only:
            await conn.execute(self._update_status, status_only)
        if new:
            await conn.execute(self._insert_subscribers, new)

        if blocklist:
            ids = [r.id for r in existing.values()]
            if ids:
                open_subs = select(sl.subscriber_id).where(
                    sl.subscriber_id.in_(ids), sl.status != _UNSUBSCRIBED
                )
                changed.update((await conn.scalars(open_subs.distinct())).all())
                await conn.execute(
                    update(T.subscriptions)
                    .where(sl.subscriber_id.in_(ids), sl.status != _UNSUBSCRIBED)
                    .values(status=_UNSUBSCRIBED, updated_at=now)
                )
        elif options.list_ids:
            changed |= await self._subscribe(conn, batch, existing, new, options, now)

        updated = len(changed)
        return ImportCounts(
            inserted=len(new), updated=updated, skipped=len(existing) - updated + duplicates
        )

    async def _subscribe(
        self,
        conn: AsyncConnection,
        batch: dict[str, NewSubscriber],
        existing: dict[str, Any],
        new: list[dict[str, Any]],
        options: ImportOptions,
        now: dt.datetime,
    ) -> set[int]:
        """Subscribe the batch to the chosen lists; return the existing subscribers changed."""
        s, sl = T.subscribers.c, T.subscriptions.c
        status = options.status.value
        # Blocklisted subscribers are not put back on lists.
        old_ids = [r.id for r in existing.values() if r.status != _BLOCKLISTED]
        new_ids: list[int] = []
        if new:
            keys = [n["email_key"] for n in new]
            new_ids = list(
                (
                    await conn.scalars(
                        select(s.id).where(s.email_key.in_(keys), s.status != _BLOCKLISTED)
                    )
                ).all()
            )
        current: dict[tuple[int, int], str] = {}
        if old_ids:
            rows = await conn.execute(
                select(sl.subscriber_id, sl.list_id, sl.status).where(
                    sl.subscriber_id.in_(old_ids), sl.list_id.in_(options.list_ids)
                )
            )
            current = {(r.subscriber_id, r.list_id): r.status for r in rows}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        changed: set[int] = set()
        for sid in old_ids:
            for lid in options.list_ids:
                was = current.get((sid, lid))
                if was is None:
                    inserts.append(_subscription(sid, lid, status, now))
                    changed.add(sid)
                elif options.overwrite_status and was != status:
                    updates.append({"_sid": sid, "_lid": lid, "_status": status, "_now": now})
                    changed.add(sid)
        inserts += [
            _subscription(sid, lid, status, now) for sid in new_ids for lid in options.list_ids
        ]
        if inserts:
            await conn.execute(self._insert_subscriptions, inserts)
        if updates:
            await conn.execute(self._update_subscription, updates)
        return changed


def _subscription(sid: int, lid: int, status: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "subscriber_id": sid,
        "list_id": lid,
        "status": status,
        "created_at": now,
        "updated_at": now,
    }
