"""The delivery ledger's outcomes: writing them (group commits) and reading them back.

record_sqlite is the SQLite fast path (campaignd.db.sqlite.direct): the recorder commits
hundreds of times a second, so the rows go to a stdlib connection's executemany.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tables as T
from campaignd.db.raw import Raw
from campaignd.domain import CampaignCounts, DeliveryRecord, DeliveryStatus, Failure
from campaignd.rules import FAILURE_STATUSES


class Outcomes:
    """Outcome statements for one dialect ("sqlite" or "postgresql")."""

    def __init__(self, dialect: str) -> None:
        self._raw = r = Raw(dialect)
        self._record = r.sql(
            "UPDATE deliveries SET status = ?, attempts = ?, code = ?, enhanced = ?, text = ?,"
            " server = ?, message_id = ?, next_attempt_at = ?, claimed_by = NULL, updated_at = ?"
            " WHERE id = ?"
        )
        # PostgreSQL: one UPDATE over arrays instead of 1000 pipelined statements.
        self._record_pg = (
            "UPDATE deliveries AS d SET status = v.status, attempts = v.attempts, code = v.code,"
            " enhanced = v.enhanced, text = v.text, server = v.server,"
            " message_id = v.message_id, next_attempt_at = v.next_at, claimed_by = NULL,"
            " updated_at = CAST(? AS TIMESTAMP WITH TIME ZONE)"
            " FROM unnest(CAST(? AS bigint[]), CAST(? AS text[]), CAST(? AS integer[]),"
            " CAST(? AS integer[]), CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[]),"
            " CAST(? AS text[]), CAST(? AS timestamptz[]))"
            " AS v(id, status, attempts, code, enhanced, text, server, message_id, next_at)"
            " WHERE d.id = v.id"
        )

    def _record_rows(
        self, records: Sequence[DeliveryRecord], now: dt.datetime
    ) -> list[tuple[Any, ...]]:
        ts = self._raw.ts
        return [
            (
                r.status.value,
                r.attempts,
                r.code,
                r.enhanced,
                r.text,
                r.server,
                r.message_id,
                # Only deferred rows wait for a time.
                ts(r.next_attempt_at) if r.status == DeliveryStatus.DEFERRED else None,
                ts(now),
                r.ledger_id,
            )
            for r in records
        ]

    def record_sqlite(
        self, conn: sqlite3.Connection, records: Sequence[DeliveryRecord], now: dt.datetime
    ) -> None:
        """`record` on a stdlib connection (campaignd.db.sqlite.direct), inside its transaction."""
        conn.executemany(self._record, self._record_rows(records, now))

    async def record(
        self, conn: AsyncConnection, records: Sequence[DeliveryRecord], now: dt.datetime
    ) -> None:
        if not records:
            return
        ts = self._raw.ts
        params = self._record_rows(records, now)
        if self._raw.pg:
            (status, attempts, code, enhanced, text_, server, message_id, next_at, _, ids) = zip(
                *params, strict=True
            )
            columns = (ids, status, attempts, code, enhanced, text_, server, message_id, next_at)
            await self._raw.run(conn, self._record_pg, (ts(now), *map(list, columns)))
        else:
            await self._raw.run(conn, self._record, params)


async def counts(conn: AsyncConnection, campaign_id: int) -> CampaignCounts:
    d = T.deliveries.c
    rows = await conn.execute(
        select(d.status, func.count()).where(d.campaign_id == campaign_id).group_by(d.status)
    )
    by_status = {str(status): int(n) for status, n in rows}
    known = {s.value for s in DeliveryStatus}
    return CampaignCounts(
        to_send=sum(by_status.values()),
        **{k: v for k, v in by_status.items() if k in known},
    )


async def failures(conn: AsyncConnection, campaign_id: int) -> list[Failure]:
    d, s = T.deliveries.c, T.subscribers.c
    rows = await conn.execute(
        select(s.email, d.status, d.attempts, d.code, d.enhanced, d.text, d.server, d.updated_at)
        .join_from(T.deliveries, T.subscribers, s.id == d.subscriber_id)
        .where(d.campaign_id == campaign_id, d.status.in_([x.value for x in FAILURE_STATUSES]))
        .order_by(s.email_key, d.id)
    )
    return [
        Failure(
            email=r.email,
            status=DeliveryStatus(r.status),
            attempts=r.attempts,
            code=r.code,
            enhanced=r.enhanced,
            text=r.text,
            server=r.server,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


async def next_retry_at(conn: AsyncConnection, campaign_id: int) -> dt.datetime | None:
    d = T.deliveries.c
    value = await conn.scalar(
        select(func.min(d.next_attempt_at)).where(
            d.campaign_id == campaign_id, d.status == DeliveryStatus.DEFERRED.value
        )
    )
    return value if isinstance(value, dt.datetime) else None
