"""The delivery ledger's claims: claiming a batch, renewing, releasing, recovering, resetting.

claim_sqlite is the SQLite fast path (campaignd.db.sqlite.direct): the same statement on a stdlib
connection. Which rows are claimable and eligible is campaignd.rules (claimable, eligible),
written set-based here.

Claim times (``claimed_at``, written by claim and renew, compared by recover against the lease)
are the database server's clock on PostgreSQL (``now()``), so daemons on hosts whose clocks
disagree judge a claim's age alike; on SQLite, whose database lives on the daemons' own host,
they are the caller's ``now``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Interval, func, literal, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tables as T
from campaignd.db.ledger import bind_now
from campaignd.db.raw import Raw
from campaignd.domain import DeliveryStatus, Recipient
from campaignd.rules import unclaimed

# Eligible to receive: subscriber enabled and on one of the campaign's lists, confirmed for a
# double opt-in list or not unsubscribed for a single opt-in one. `d` is the ledger row.
#
# `fence` is "OFFSET 0" on PostgreSQL: without it the planner may turn the EXISTS into a hashed
# subplan, hashing every subscription of every campaign's lists (300,000 rows for six
# campaigns on one 50,000-row list) once per claim, instead of two index look-ups per claimed
# row: 150-200 ms of a 1,000-row claim, growing with the lists and with every campaign sent
# (the bench's second campaign paid twice the first's). An OFFSET keeps it a per-row subplan.
_ELIGIBLE = """
    (SELECT s.status FROM subscribers s WHERE s.id = {d}.subscriber_id) = 'enabled'
    AND EXISTS (
        SELECT 1 FROM campaign_lists cl
        JOIN lists l ON l.id = cl.list_id
        JOIN subscriptions sl ON sl.list_id = cl.list_id
        WHERE cl.campaign_id = {d}.campaign_id AND sl.subscriber_id = {d}.subscriber_id
          AND (sl.status = 'confirmed' OR (l.optin = 'single' AND sl.status <> 'unsubscribed'))
        {fence}
    )
"""


# Due deferred rows and pending rows each come in id order from the claim index (ordering by
# the index's leading columns too keeps PostgreSQL on it instead of walking the primary key
# past every row already sent); the first `n` of both, in id order, are claimed. Ineligible
# ones become skipped in the same statement. The subscriber's status is a scalar subquery so
# PostgreSQL looks it up per row instead of hashing the whole subscribers table.
_CLAIM_SET = """
SET status = CASE WHEN {eligible} THEN 'claimed' ELSE 'skipped' END,
    claimed_by = :owner, claimed_at = {claimed}, updated_at = {now}
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


_NO_JIT = text("SET LOCAL jit = off")  # PostgreSQL, for this transaction: see _claim_pg


class Claims:
    """Claim statements for one dialect ("sqlite" or "postgresql")."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._after: dict[int, int] = {}  # campaign -> the highest ledger id claimed here
        fence = "OFFSET 0" if dialect == "postgresql" else ""
        eligible = _ELIGIBLE.format(d="deliveries", fence=fence)
        claim = _CLAIM_POSTGRES if dialect == "postgresql" else _CLAIM_SQLITE
        now = bind_now(dialect)
        claimed = "now()" if dialect == "postgresql" else now  # the server's clock: see above
        self._claim = text(claim.format(now=now, claimed=claimed, eligible=eligible))
        self._raw = r = Raw(dialect)
        self._recipients = r.sql(
            "SELECT id, uuid, email, name, attributes FROM subscribers WHERE "
            + r.in_("id", "integer")
        )

    async def claim(
        self, conn: AsyncConnection, campaign_id: int, owner: str, limit: int, now: dt.datetime
    ) -> list[Recipient]:
        if limit <= 0:
            return []
        params = {"cid": campaign_id, "owner": owner, "n": limit, "now": self._raw.ts(now)}
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
        params = {"cid": campaign_id, "owner": owner, "n": limit, "now": self._raw.ts(now)}
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
        # Its per-row subplans put the claim's estimated cost above jit_above_cost: compiling
        # it took 20-30 ms of a 45-50 ms claim (while the plan is a custom one: the first five
        # runs on each pooled connection), for a statement that then runs in ~20 ms.
        await conn.execute(_NO_JIT)
        after = self._after.get(campaign_id, 0)
        rows: list[Any] = list((await conn.execute(self._claim, {**params, "after": after})).all())
        if after and len(rows) < params["n"]:
            rest = {**params, "after": 0, "n": params["n"] - len(rows)}
            rows += (await conn.execute(self._claim, rest)).all()
        if rows:
            self._after[campaign_id] = max(after, *(row[0] for row in rows))
        return rows


def _clock(conn: AsyncConnection, now: dt.datetime) -> Any:
    """The time a claim is stamped with: the server's now() on PostgreSQL, else `now`."""
    return func.now() if conn.dialect.name == "postgresql" else now


def _stale_before(conn: AsyncConnection, lease: dt.timedelta, now: dt.datetime) -> Any:
    """Claims stamped before this are stale: the lease before the clock of `_clock`."""
    if conn.dialect.name == "postgresql":
        cutoff: ColumnElement[Any] = func.now() - literal(lease, Interval())
        return cutoff
    return now - lease


async def renew(conn: AsyncConnection, owner: str, campaign_id: int, now: dt.datetime) -> int:
    d = T.deliveries.c
    stmt = (
        update(T.deliveries)
        .where(
            d.campaign_id == campaign_id,
            d.status == DeliveryStatus.CLAIMED.value,
            d.claimed_by == owner,
        )
        .values(claimed_at=_clock(conn, now))
    )
    return (await conn.execute(stmt)).rowcount


async def release(
    conn: AsyncConnection, owner: str, campaign_id: int | None, now: dt.datetime
) -> int:
    d = T.deliveries.c
    stmt = update(T.deliveries).where(
        d.status == DeliveryStatus.CLAIMED.value, d.claimed_by == owner
    )
    if campaign_id is not None:
        stmt = stmt.where(d.campaign_id == campaign_id)
    result = await conn.execute(stmt.values(unclaimed(now)))
    return result.rowcount


async def recover(conn: AsyncConnection, owner: str, lease: dt.timedelta, now: dt.datetime) -> int:
    d = T.deliveries.c
    stmt = (
        update(T.deliveries)
        .where(
            d.status == DeliveryStatus.CLAIMED.value,
            (d.claimed_by == owner) | (d.claimed_at < _stale_before(conn, lease, now)),
        )
        .values(unclaimed(now))
    )
    return (await conn.execute(stmt)).rowcount


async def recover_stale(
    conn: AsyncConnection,
    campaign_id: int,
    lease: dt.timedelta,
    alive: str,
    now: dt.datetime,
) -> int:
    d = T.deliveries.c
    stmt = (
        update(T.deliveries)
        .where(
            d.campaign_id == campaign_id,  # the (campaign_id, status) index: no table scan
            d.status == DeliveryStatus.CLAIMED.value,
            d.claimed_at < _stale_before(conn, lease, now),
            d.claimed_by != alive,
        )
        .values(unclaimed(now))
    )
    return (await conn.execute(stmt)).rowcount


async def reset_failed(conn: AsyncConnection, campaign_id: int, now: dt.datetime) -> int:
    d = T.deliveries.c
    stmt = (
        update(T.deliveries)
        .where(d.campaign_id == campaign_id, d.status == DeliveryStatus.FAILED.value)
        .values(unclaimed(now))
    )
    return (await conn.execute(stmt)).rowcount
