"""The delivery ledger's SQL: populate, claim, record, release, recover, counts (set-based)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy import TextClause, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tables as T
from campaignd.db.raw import Raw
from campaignd.db.types import sqlite_text
from campaignd.domain import (
    CampaignCounts,
    DeliveryRecord,
    DeliveryStatus,
    Failure,
    Recipient,
)

_NO_LIMIT = 2**31 - 1  # the largest subscriber id (a 32-bit integer column)
_FAILURES = (DeliveryStatus.FAILED, DeliveryStatus.DEFERRED, DeliveryStatus.UNKNOWN)

# Eligible to receive: subscriber enabled and on one of the campaign's lists, confirmed for a
# double opt-in list or not unsubscribed for a single opt-in one. `d` is the ledger row.
_ELIGIBLE = """
    (SELECT s.status FROM subscribers s WHERE s.id = {d}.subscriber_id) = 'enabled'
    AND EXISTS (
        SELECT 1 FROM campaign_lists cl
        JOIN lists l ON l.id = cl.list_id
        JOIN subscriptions sl ON sl.list_id = cl.list_id
        WHERE cl.campaign_id = {d}.campaign_id AND sl.subscriber_id = {d}.subscriber_id
          AND (sl.status = 'confirmed' OR (l.optin = 'single' AND sl.status <> 'unsubscribed'))
    )
"""

# One chunk of subscriber ids, two ways to find its recipients. Each subscriber is added once
# however many of the campaign's lists it is on.
#
# By subscriber: walk the subscribers' primary key range and check each one's subscription by
# its (subscriber_id, list_id) key. A chunk costs the same however long the lists are, ~1.7 us
# per id in the range. The range is repeated on the subscriptions for PostgreSQL, whose hashed
# semi-join otherwise reads all of them.
_POPULATE = """
INSERT INTO deliveries
    (campaign_id, subscriber_id, status, attempts, text, message_id, created_at, updated_at)
SELECT :cid, s.id, 'pending', 0, '', '', {now}, {now}
FROM subscribers s
WHERE s.id > :after AND s.id <= :upto AND s.status = 'enabled'
  AND EXISTS (
    SELECT 1 FROM campaign_lists cl
    JOIN lists l ON l.id = cl.list_id
    JOIN subscriptions sl ON sl.list_id = cl.list_id
    WHERE cl.campaign_id = :cid AND sl.subscriber_id = s.id
      AND sl.subscriber_id > :after AND sl.subscriber_id <= :upto
      AND (sl.status = 'confirmed' OR (l.optin = 'single' AND sl.status <> 'unsubscribed'))
  )
ORDER BY s.id
ON CONFLICT (campaign_id, subscriber_id) DO NOTHING
"""

# By list: SQLite reads every subscription of the campaign's lists through the
# (list_id, status) index, ~0.45 us each, whatever the chunk. Cheaper for lists that are small
# beside the chunk; for a 1M list it was 0.45 s per 50,000-id chunk with the write lock held,
# and the whole ledger O(N^2).
_POPULATE_BY_LIST = """
INSERT INTO deliveries
    (campaign_id, subscriber_id, status, attempts, text, message_id, created_at, updated_at)
SELECT :cid, e.subscriber_id, 'pending', 0, '', '', {now}, {now}
FROM (
    SELECT DISTINCT sl.subscriber_id
    FROM campaign_lists cl
    JOIN lists l ON l.id = cl.list_id
    JOIN subscriptions sl ON sl.list_id = cl.list_id
    JOIN subscribers s ON s.id = sl.subscriber_id
    WHERE cl.campaign_id = :cid AND s.status = 'enabled'
      AND sl.subscriber_id > :after AND sl.subscriber_id <= :upto
      AND (sl.status = 'confirmed' OR (l.optin = 'single' AND sl.status <> 'unsubscribed'))
) e
WHERE true
ORDER BY e.subscriber_id
ON CONFLICT (campaign_id, subscriber_id) DO NOTHING
"""

# SQLite keeps no statistics, so the ledger chooses: by list while the campaign's lists hold
# fewer subscriptions than this many per id of the chunk (0.45 against 1.7 us, rounded down).
BY_LIST_PER_ID = 3
# The lists' subscriptions are counted up to this many (enough to choose for a chunk of up to
# 100,000 ids): counting a 1M list whole took 0.43 s before the campaign's first message.
_COUNT_UP_TO = BY_LIST_PER_ID * 100_000

_MEMBERS = """
SELECT count(*) FROM (
    SELECT 1 FROM campaign_lists cl JOIN subscriptions sl ON sl.list_id = cl.list_id
    WHERE cl.campaign_id = :cid LIMIT :cap
) m
"""

# Due deferred rows and pending rows each come in id order from the claim index (ordering by
# the index's leading columns too keeps PostgreSQL on it instead of walking the primary key
# past every row already sent); the first `n` of both, in id order, are claimed. Ineligible
# ones become skipped in the same statement. The subscriber's status is a scalar subquery so
# PostgreSQL looks it up per row instead of hashing the whole subscribers table.
_CLAIM_SET = """
SET status = CASE WHEN {eligible} THEN 'claimed' ELSE 'skipped' END,
    claimed_by = :owner, claimed_at = {now}, updated_at = {now}
"""

_CLAIM_SQLITE = (
    "UPDATE deliveries "
    + _CLAIM_SET
    + """
WHERE id IN (
    SELECT id FROM (
        SELECT id FROM deliveries
        WHERE campaign_id = :cid AND status = 'deferred' AND next_attempt_at <= {now}
        ORDER BY campaign_id, status, id LIMIT :n
    )
    UNION ALL
    SELECT id FROM (
        SELECT id FROM deliveries WHERE campaign_id = :cid AND status = 'pending'
        ORDER BY campaign_id, status, id LIMIT :n
    )
    ORDER BY id LIMIT :n
)
RETURNING id, subscriber_id, attempts, status
"""
)

_CLAIM_POSTGRES = (
    """
WITH due AS (
    SELECT id FROM deliveries
    WHERE campaign_id = :cid AND status = 'deferred' AND next_attempt_at <= {now}
    ORDER BY campaign_id, status, id LIMIT :n FOR UPDATE SKIP LOCKED
), fresh AS (
    SELECT id FROM deliveries WHERE campaign_id = :cid AND status = 'pending' AND id > :after
    ORDER BY campaign_id, status, id LIMIT :n FOR UPDATE SKIP LOCKED
)
UPDATE deliveries """
    + _CLAIM_SET
    + """
WHERE id IN (
    SELECT id FROM (SELECT id FROM due UNION ALL SELECT id FROM fresh) c ORDER BY id LIMIT :n
)
RETURNING id, subscriber_id, attempts, status
"""
)


class Ledger:
    """Ledger statements for one dialect ("sqlite" or "postgresql")."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._after: dict[int, int] = {}  # campaign -> the highest ledger id claimed here
        self._members: dict[int, int] = {}  # campaign -> its lists' subscriptions (SQLite)
        now = "CAST(:now AS TIMESTAMP WITH TIME ZONE)" if dialect == "postgresql" else ":now"
        eligible = _ELIGIBLE.format(d="deliveries")
        claim = _CLAIM_POSTGRES if dialect == "postgresql" else _CLAIM_SQLITE
        self._populate = text(_POPULATE.format(now=now))
        self._populate_by_list = text(_POPULATE_BY_LIST.format(now=now))
        self._claim = text(claim.format(now=now, eligible=eligible))
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
        self._recipients = r.sql(
            "SELECT id, uuid, email, name, attributes FROM subscribers WHERE "
            + r.in_("id", "integer")
        )

    def _t(self, value: dt.datetime) -> Any:
        """A datetime as a parameter of the raw statements above."""
        return sqlite_text(value) if self.dialect == "sqlite" else value.astimezone(dt.UTC)

    async def populate(
        self,
        conn: AsyncConnection,
        campaign_id: int,
        now: dt.datetime,
        after: int = 0,
        upto: int | None = None,
    ) -> int:
        last = _NO_LIMIT if upto is None else upto
        params = {"cid": campaign_id, "now": self._t(now), "after": after, "upto": last}
        members = 0
        if self.dialect == "sqlite":
            cached = self._members.get(campaign_id)
            # Counted again at the start of each pass (a runner populates from id 0): a list
            # can grow between a campaign's runs; within one pass its size hardly moves.
            if cached is None or after == 0:
                count = {"cid": campaign_id, "cap": _COUNT_UP_TO}
                cached = int(await conn.scalar(text(_MEMBERS), count) or 0)
                self._members[campaign_id] = cached
            members = cached
        result = await conn.execute(self.populate_statement(members, after, last), params)
        return max(result.rowcount, 0)

    def populate_statement(self, members: int, after: int, upto: int) -> TextClause:
        """The statement that fills subscriber ids after..upto of a campaign whose lists hold
        `members` subscriptions: by list on SQLite while they are few beside the chunk."""
        if self.dialect == "sqlite" and members < BY_LIST_PER_ID * (upto - after):
            return self._populate_by_list
        return self._populate

    async def last_subscriber_id(self, conn: AsyncConnection) -> int:
        return int(await conn.scalar(select(func.coalesce(func.max(T.subscribers.c.id), 0))) or 0)

    async def claim(
        self, conn: AsyncConnection, campaign_id: int, owner: str, limit: int, now: dt.datetime
    ) -> list[Recipient]:
        if limit <= 0:
            return []
        params = {"cid": campaign_id, "owner": owner, "n": limit, "now": self._t(now)}
        rows: list[Any]
        if self.dialect == "postgresql":
            rows = await self._claim_pg(conn, campaign_id, params)
        else:
            rows = list((await conn.execute(self._claim, params)).all())
        claimed = [(row[0], row[1], row[2]) for row in rows if row[3] == DeliveryStatus.CLAIMED]
        if not claimed:
            return []
        r = self._raw
        result = await r.run(conn, self._recipients, (r.array([c[1] for c in claimed]),))
        return self._people(campaign_id, claimed, result.all())

    def claim_sqlite(
        self,
        conn: sqlite3.Connection,
        campaign_id: int,
        owner: str,
        limit: int,
        now: dt.datetime,
    ) -> list[Recipient]:
        """`claim` on a stdlib connection (campaignd.db.sqlite.direct), inside its transaction: the
        same statements without SQLAlchemy's per-row result processing (1000 rows a claim)."""
        if limit <= 0:
            return []
        params = {"cid": campaign_id, "owner": owner, "n": limit, "now": self._t(now)}
        rows = conn.execute(self._claim.text, params).fetchall()
        claimed = [(row[0], row[1], row[2]) for row in rows if row[3] == DeliveryStatus.CLAIMED]
        if not claimed:
            return []
        ids = self._raw.array([c[1] for c in claimed])
        return self._people(campaign_id, claimed, conn.execute(self._recipients, (ids,)).fetchall())

    def _people(
        self,
        campaign_id: int,
        claimed: list[tuple[int, int, int]],
        subscribers: Sequence[Any],
    ) -> list[Recipient]:
        """Recipients of the claimed (ledger id, subscriber id, attempts), in ledger order."""
        r = self._raw
        people = {p[0]: p for p in subscribers}
        out = []
        for ledger_id, subscriber_id, attempts in sorted(claimed):
            p = people[subscriber_id]
            out.append(
                Recipient(
                    ledger_id=ledger_id,
                    campaign_id=campaign_id,
                    subscriber_id=subscriber_id,
                    uuid=r.to_uuid(p[1]),
                    email=p[2],
                    name=p[3],
                    attributes=r.to_json(p[4]),
                    attempts=attempts,
                )
            )
        return out

    async def _claim_pg(
        self, conn: AsyncConnection, campaign_id: int, params: dict[str, Any]
    ) -> list[Any]:
        # PostgreSQL's planner assumes pending rows are spread evenly over the primary key and
        # walks it from the start, past every row already sent: each batch would cost more than
        # the last. Starting after the last row this store claimed keeps a batch cheap; rows
        # put back below it (released, recovered, reset) are found by a second pass from 0.
        after = self._after.get(campaign_id, 0)
        rows: list[Any] = list((await conn.execute(self._claim, {**params, "after": after})).all())
        if after and len(rows) < params["n"]:
            rest = {**params, "after": 0, "n": params["n"] - len(rows)}
            rows += (await conn.execute(self._claim, rest)).all()
        if rows:
            self._after[campaign_id] = max(after, *(row[0] for row in rows))
        return rows

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

    async def renew(
        self, conn: AsyncConnection, owner: str, campaign_id: int, now: dt.datetime
    ) -> int:
        d = T.deliveries.c
        stmt = (
            update(T.deliveries)
            .where(
                d.campaign_id == campaign_id,
                d.status == DeliveryStatus.CLAIMED.value,
                d.claimed_by == owner,
            )
            .values(claimed_at=now)
        )
        return (await conn.execute(stmt)).rowcount

    async def release(
        self, conn: AsyncConnection, owner: str, campaign_id: int | None, now: dt.datetime
    ) -> int:
        d = T.deliveries.c
        stmt = update(T.deliveries).where(
            d.status == DeliveryStatus.CLAIMED.value, d.claimed_by == owner
        )
        if campaign_id is not None:
            stmt = stmt.where(d.campaign_id == campaign_id)
        result = await conn.execute(stmt.values(_unclaimed(now)))
        return result.rowcount

    async def recover(
        self, conn: AsyncConnection, owner: str, stale_before: dt.datetime, now: dt.datetime
    ) -> int:
        d = T.deliveries.c
        stmt = (
            update(T.deliveries)
            .where(
                d.status == DeliveryStatus.CLAIMED.value,
                (d.claimed_by == owner) | (d.claimed_at < stale_before),
            )
            .values(_unclaimed(now))
        )
        return (await conn.execute(stmt)).rowcount

    async def recover_stale(
        self,
        conn: AsyncConnection,
        campaign_id: int,
        stale_before: dt.datetime,
        alive: str,
        now: dt.datetime,
    ) -> int:
        d = T.deliveries.c
        stmt = (
            update(T.deliveries)
            .where(
                d.campaign_id == campaign_id,  # the (campaign_id, status) index: no table scan
                d.status == DeliveryStatus.CLAIMED.value,
                d.claimed_at < stale_before,
                d.claimed_by != alive,
            )
            .values(_unclaimed(now))
        )
        return (await conn.execute(stmt)).rowcount

    async def reset_failed(self, conn: AsyncConnection, campaign_id: int, now: dt.datetime) -> int:
        d = T.deliveries.c
        stmt = (
            update(T.deliveries)
            .where(d.campaign_id == campaign_id, d.status == DeliveryStatus.FAILED.value)
            .values(_unclaimed(now))
        )
        return (await conn.execute(stmt)).rowcount

    async def counts(self, conn: AsyncConnection, campaign_id: int) -> CampaignCounts:
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

    async def failures(self, conn: AsyncConnection, campaign_id: int) -> list[Failure]:
        d, s = T.deliveries.c, T.subscribers.c
        rows = await conn.execute(
            select(
                s.email, d.status, d.attempts, d.code, d.enhanced, d.text, d.server, d.updated_at
            )
            .join_from(T.deliveries, T.subscribers, s.id == d.subscriber_id)
            .where(d.campaign_id == campaign_id, d.status.in_([x.value for x in _FAILURES]))
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

    async def next_retry_at(self, conn: AsyncConnection, campaign_id: int) -> dt.datetime | None:
        d = T.deliveries.c
        value = await conn.scalar(
            select(func.min(d.next_attempt_at)).where(
                d.campaign_id == campaign_id, d.status == DeliveryStatus.DEFERRED.value
            )
        )
        return value if isinstance(value, dt.datetime) else None


def _unclaimed(now: dt.datetime) -> dict[str, Any]:
    return {
        "status": DeliveryStatus.PENDING.value,
        "claimed_by": None,
        "claimed_at": None,
        "next_attempt_at": None,
        "updated_at": now,
    }
