"""SQL for managing subscribers: update, delete (ledger rows kept, detached), erase, pages, data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tables as T
from campaignd.domain import (
    BounceEntry,
    DeliveryEntry,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    SubscriptionRecord,
    SubscriptionStatus,
)
from campaignd.errors import NotFound
from campaignd.rules import DELETED_OPEN_STATUSES, erase_address

# Ids per statement: below SQLite's bound-parameter limit (32766), few statements in a bulk
# delete (the ledger is not indexed by subscriber: each statement reads it once).
_CHUNK = 5000
_OPEN = [s.value for s in DELETED_OPEN_STATUSES]


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    unique = sorted(set(ids))
    return [unique[i : i + _CHUNK] for i in range(0, len(unique), _CHUNK)]


async def require_subscribers(conn: AsyncConnection, ids: Sequence[int]) -> None:
    """Raise NotFound naming the ids that are no subscriber's."""
    s = T.subscribers.c
    missing: list[int] = []
    for chunk in _chunks(ids):
        found = set((await conn.scalars(select(s.id).where(s.id.in_(chunk)))).all())
        missing += [i for i in chunk if i not in found]
    if missing:
        raise NotFound(f"no subscriber with id {', '.join(map(str, missing))}")


async def delete_subscribers(conn: AsyncConnection, ids: Sequence[int], now: dt.datetime) -> int:
    """campaignd.store.protocol.SubscriberStore.delete_subscribers, inside the caller's
    transaction: ledger rows detached (subscriber_id = -row id, as rules.detached_subscriber_id)
    and those still to send skipped (rules.after_deletion); the rest deleted."""
    await require_subscribers(conn, ids)
    d = T.deliveries.c
    still_open = d.status.in_(_OPEN)
    deleted = 0
    for chunk in _chunks(ids):
        await conn.execute(
            update(T.deliveries)
            .where(d.subscriber_id.in_(chunk))
            .values(
                subscriber_id=-d.id,
                status=case((still_open, DeliveryStatus.SKIPPED.value), else_=d.status),
                next_attempt_at=case((still_open, None), else_=d.next_attempt_at),
                updated_at=case((still_open, now), else_=d.updated_at),
            )
        )
        for table in (T.subscriptions, T.optin_sends, T.bounces):
            await conn.execute(delete(table).where(table.c.subscriber_id.in_(chunk)))
        result = await conn.execute(delete(T.subscribers).where(T.subscribers.c.id.in_(chunk)))
        deleted += result.rowcount
    return deleted


async def erase_replies(conn: AsyncConnection, subscriber_id: int, address: str) -> int:
    """The subscriber's ledger rows without its address in their server replies
    (rules.erase_address) and without their Message-IDs (made from the subscriber's uuid);
    return the number of its ledger rows."""
    d = T.deliveries.c
    rows = (await conn.execute(select(d.id, d.text).where(d.subscriber_id == subscriber_id))).all()
    for row_id, text in rows:
        await conn.execute(
            update(T.deliveries)
            .where(d.id == row_id)
            .values(text=erase_address(text, address), message_id="")
        )
    return len(rows)


def subscriber(row: Any, subscriptions: tuple[Any, ...] = ()) -> Subscriber:
    return Subscriber(
        id=row.id,
        uuid=row.uuid,
        email=row.email,
        name=row.name,
        attributes=row.attributes,
        status=SubscriberStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        subscriptions=subscriptions,
    )


async def page(
    conn: AsyncConnection,
    after_id: int,
    limit: int,
    list_id: int | None,
    status: SubscriberStatus | None,
) -> list[Subscriber]:
    """Keyset page of subscribers in id order, without their subscriptions."""
    s, sl = T.subscribers.c, T.subscriptions.c
    query = select(T.subscribers).where(s.id > after_id).order_by(s.id).limit(limit)
    if status is not None:
        query = query.where(s.status == status.value)
    if list_id is not None:
        query = query.where(exists().where(sl.subscriber_id == s.id, sl.list_id == list_id))
    return [subscriber(r) for r in await conn.execute(query)]


async def subscriptions(conn: AsyncConnection, subscriber_id: int) -> list[SubscriptionRecord]:
    sl, li = T.subscriptions.c, T.lists.c
    rows = await conn.execute(
        select(sl.list_id, li.name, sl.status, sl.created_at, sl.updated_at)
        .join_from(T.subscriptions, T.lists, li.id == sl.list_id)
        .where(sl.subscriber_id == subscriber_id)
        .order_by(sl.list_id)
    )
    return [
        SubscriptionRecord(r.list_id, r.name, SubscriptionStatus(r.status), r[3], r[4])
        for r in rows
    ]


async def deliveries(conn: AsyncConnection, subscriber_id: int) -> list[DeliveryEntry]:
    d, c = T.deliveries.c, T.campaigns.c
    rows = await conn.execute(
        select(c.name.label("campaign_name"), T.deliveries)
        .join_from(T.deliveries, T.campaigns, c.id == d.campaign_id)
        .where(d.subscriber_id == subscriber_id)
        .order_by(d.id)
    )
    return [
        DeliveryEntry(
            campaign_id=r.campaign_id,
            campaign_name=r.campaign_name,
            status=DeliveryStatus(r.status),
            attempts=r.attempts,
            code=r.code,
            enhanced=r.enhanced,
            text=r.text,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


async def bounces(conn: AsyncConnection, subscriber_id: int) -> list[BounceEntry]:
    b = T.bounces.c
    rows = await conn.execute(
        select(b.campaign_id, b.type, b.source, b.reason, b.created_at)
        .where(b.subscriber_id == subscriber_id)
        .order_by(b.id)
    )
    return [BounceEntry(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def optin_sent_at(conn: AsyncConnection, subscriber_id: int) -> dt.datetime | None:
    o = T.optin_sends.c
    value = await conn.scalar(select(o.sent_at).where(o.subscriber_id == subscriber_id))
    return value if isinstance(value, dt.datetime) else None
