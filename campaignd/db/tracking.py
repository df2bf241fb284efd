"""SQL for opens, clicks and statistics: batched hit upserts, counts, time series, and the
subscriptions of a list per day (its growth)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, func, insert, literal_column, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tables as T
from campaignd.db.types import to_utc
from campaignd.domain import (
    DeliveryStatus,
    Hit,
    HitCount,
    HitKind,
    LedgerPoint,
    SubscriptionDay,
    SubscriptionStatus,
)

#: Count rows per upsert statement: 6 parameters each, well under SQLite's and asyncpg's limits.
UPSERT_ROWS = 1000
#: Ledger states that are an outcome, for the send-rate series.
FINAL = (DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value, DeliveryStatus.UNKNOWN.value)


def minute(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(second=0, microsecond=0)


async def record_hits(conn: AsyncConnection, dialect: str, hits: Sequence[Hit]) -> None:
    """One upsert of the hits counted per key and minute; one insert of individual rows."""
    counts = Counter((h.campaign_id, h.kind.value, h.machine, h.url, minute(h.at)) for h in hits)
    if counts:
        rows = [
            {"campaign_id": c, "kind": k, "machine": m, "url": u, "minute": t, "hits": n}
            for (c, k, m, u, t), n in counts.items()
        ]
        make: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        tc = T.track_counts.c
        for start in range(0, len(rows), UPSERT_ROWS):  # bound the statement's parameters
            stmt = make(T.track_counts).values(rows[start : start + UPSERT_ROWS])
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[tc.campaign_id, tc.kind, tc.machine, tc.url, tc.minute],
                    set_={"hits": tc.hits + stmt.excluded.hits},
                )
            )
    people = [
        {
            "campaign_id": h.campaign_id,
            "subscriber_id": h.subscriber_id,
            "kind": h.kind.value,
            "machine": h.machine,
            "url": h.url,
            "created_at": h.at,
        }
        for h in hits
        if h.subscriber_id is not None
    ]
    if people:
        await conn.execute(insert(T.track_events), people)


async def hit_counts(conn: AsyncConnection, campaign_id: int) -> list[HitCount]:
    tc = T.track_counts.c
    rows = await conn.execute(
        select(tc.kind, tc.machine, tc.url, tc.minute, tc.hits)
        .where(tc.campaign_id == campaign_id)
        .order_by(tc.minute, tc.kind, tc.machine, tc.url)
    )
    return [HitCount(HitKind(r.kind), bool(r.machine), r.url, r.minute, r.hits) for r in rows]


async def unique_hitters(
    conn: AsyncConnection, campaign_id: int
) -> dict[tuple[HitKind, bool], int]:
    te = T.track_events.c
    rows = await conn.execute(
        select(te.kind, te.machine, func.count(te.subscriber_id.distinct()))
        .where(te.campaign_id == campaign_id)
        .group_by(te.kind, te.machine)
    )
    return {(HitKind(kind), bool(machine)): int(n) for kind, machine, n in rows}


async def ledger_series(conn: AsyncConnection, dialect: str, campaign_id: int) -> list[LedgerPoint]:
    d = T.deliveries.c
    # SQLite keeps fixed-width UTC text (db.types): its first 16 characters are the minute.
    bucket: Any = (
        func.date_trunc("minute", d.updated_at)
        if dialect == "postgresql"
        else func.substr(d.updated_at, 1, 16)
    )
    rows = await conn.execute(
        select(bucket.label("bucket"), d.status, func.count())
        .where(d.campaign_id == campaign_id, d.status.in_(FINAL))
        .group_by(bucket, d.status)
    )
    out = []
    for at, status, n in rows:
        when = to_utc(f"{at}:00" if isinstance(at, str) else at)
        assert when is not None
        out.append(LedgerPoint(minute(when), DeliveryStatus(status), int(n)))
    return sorted(out, key=lambda p: (p.minute, p.status.value))


async def subscription_days(
    conn: AsyncConnection, dialect: str, list_id: int
) -> list[SubscriptionDay]:
    """One statement: the list's subscriptions created per UTC day, beside those now
    unsubscribed per UTC day of their last change (campaignd.store.protocol, list_growth)."""
    sl = T.subscriptions.c

    def day(column: Any) -> Any:
        if dialect == "postgresql":  # the session's time zone must not move the day
            return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD", type_=String)
        return func.substr(column, 1, 10, type_=String)  # fixed-width UTC text (db.types)

    one: Any = literal_column("1")
    zero: Any = literal_column("0")
    made = select(day(sl.created_at).label("day"), one.label("made"), zero.label("ended"))
    ended = select(day(sl.updated_at), zero, one).where(
        sl.status == SubscriptionStatus.UNSUBSCRIBED.value
    )
    both = union_all(made.where(sl.list_id == list_id), ended.where(sl.list_id == list_id))
    u = both.subquery()
    rows = await conn.execute(
        select(u.c.day, func.sum(u.c.made), func.sum(u.c.ended)).group_by(u.c.day).order_by(u.c.day)
    )
    return [SubscriptionDay(dt.date.fromisoformat(d), int(m), int(e)) for d, m, e in rows]
