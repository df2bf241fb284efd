"""The delivery ledger's fill: one pending row per eligible subscriber, in chunks of ids.

The rest of the ledger's SQL: claiming and putting claims back in db/claims.py, writing and
reading outcomes in db/outcomes.py. The eligibility rule is campaignd.rules.eligible, written
set-based here (tests/integration/test_store_rules.py pins the two together).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import TextClause, and_, exists, func, literal, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from campaignd.db import tables as T
from campaignd.db.filters import condition
from campaignd.db.raw import Raw
from campaignd.db.types import UtcDateTime
from campaignd.filters import Node, parse

_NO_LIMIT = 2**31 - 1  # the largest subscriber id (a 32-bit integer column)

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
FROM {subscribers} s
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

# PostgreSQL: several daemons fill the same campaign's ledger, each every chunk. Each chunk's
# transaction first takes this campaign's fill lock (FILL_LOCK, the campaign id), so a second
# daemon waits for the chunk to commit instead of evaluating it beside the first and then
# waiting on its rows at ON CONFLICT; and subscribers already in the ledger are left out
# before the eligibility check (an anti-join on the (campaign_id, subscriber_id) key, fenced
# with OFFSET 0 so the planner cannot check eligibility first), so the second pass over a
# filled chunk reads two index ranges and adds nothing. The rows added are those ON CONFLICT
# DO NOTHING alone would add.
_NOT_PRESENT = """(
    SELECT n.id, n.status FROM subscribers n
    WHERE n.id > :after AND n.id <= :upto AND NOT EXISTS (
        SELECT 1 FROM deliveries p WHERE p.campaign_id = :cid AND p.subscriber_id = n.id
          AND p.subscriber_id > :after AND p.subscriber_id <= :upto
    )
    OFFSET 0
)"""
#: The first key of the transaction-level advisory lock of a campaign's ledger fill
#: ("ldgr" in ASCII); the second is the campaign id.
FILL_LOCK = 0x6C646772

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


def bind_now(dialect: str) -> str:
    """The `:now` parameter of the ledger's text statements, typed for PostgreSQL."""
    return "CAST(:now AS TIMESTAMP WITH TIME ZONE)" if dialect == "postgresql" else ":now"


def eligible(campaign_id: int, after: int = 0, upto: int = _NO_LIMIT) -> ColumnElement[bool]:
    """_POPULATE's rule (campaignd.rules.eligible) as a SQLAlchemy condition on T.subscribers
    with ids after..upto, for the statements that add a segment's condition to it (the range is
    repeated on the subscriptions, as in _POPULATE, for PostgreSQL's planner)."""
    s, cl, li, sl = T.subscribers.c, T.campaign_lists.c, T.lists.c, T.subscriptions.c
    lists = T.campaign_lists.join(T.lists, li.id == cl.list_id)
    on_lists = exists(
        select(literal(1))
        .select_from(lists.join(T.subscriptions, sl.list_id == cl.list_id))
        .where(
            cl.campaign_id == campaign_id,
            sl.subscriber_id == s.id,
            sl.subscriber_id > after,
            sl.subscriber_id <= upto,
            or_(sl.status == "confirmed", and_(li.optin == "single", sl.status != "unsubscribed")),
        )
    )
    return and_(s.id > after, s.id <= upto, s.status == "enabled", on_lists)


class Ledger:
    """Filling the ledger, for one dialect ("sqlite" or "postgresql")."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._members: dict[int, int] = {}  # campaign -> its lists' subscriptions (SQLite)
        self._segments: dict[int, tuple[str, Node]] = {}  # campaign -> its parsed segment
        now = bind_now(dialect)
        source = _NOT_PRESENT if dialect == "postgresql" else "subscribers"
        self._populate = text(_POPULATE.format(now=now, subscribers=source))
        self._populate_by_list = text(_POPULATE_BY_LIST.format(now=now))
        self._fill_lock = text("SELECT pg_advisory_xact_lock(:key, :cid)")
        self._raw = Raw(dialect)

    async def populate(
        self,
        conn: AsyncConnection,
        campaign_id: int,
        now: dt.datetime,
        after: int = 0,
        upto: int | None = None,
    ) -> int:
        last = _NO_LIMIT if upto is None else upto
        params = {"cid": campaign_id, "now": self._raw.ts(now), "after": after, "upto": last}
        members = 0
        await self.lock_fill(conn, campaign_id)
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

    async def lock_fill(self, conn: AsyncConnection, campaign_id: int) -> None:
        """PostgreSQL: wait until no other transaction is filling this campaign's ledger, and
        hold that until this one ends (see _NOT_PRESENT). SQLite's write lock does that."""
        if self.dialect == "postgresql":
            await conn.execute(self._fill_lock, {"key": FILL_LOCK, "cid": campaign_id})

    def populate_statement(self, members: int, after: int, upto: int) -> TextClause:
        """The statement that fills subscriber ids after..upto of a campaign whose lists hold
        `members` subscriptions: by list on SQLite while they are few beside the chunk."""
        if self.dialect == "sqlite" and members < BY_LIST_PER_ID * (upto - after):
            return self._populate_by_list
        return self._populate

    async def populate_segment(
        self,
        conn: AsyncConnection,
        campaign_id: int,
        segment: str,
        now: dt.datetime,
        after: int = 0,
        upto: int | None = None,
    ) -> int:
        """`populate` for a campaign with a segment: the same rule, by subscriber, and the
        segment's condition (campaignd.db.filters) on top."""
        await self.lock_fill(conn, campaign_id)
        cached = self._segments.get(campaign_id)
        if cached is None or cached[0] != segment:
            cached = self._segments[campaign_id] = (segment, parse(segment))
        stmt = self._segment_statement(campaign_id, cached[1], now, after, upto)
        result = await conn.execute(stmt)
        return max(result.rowcount, 0)

    def _segment_statement(
        self, campaign_id: int, node: Node, now: dt.datetime, after: int, upto: int | None
    ) -> Any:
        s, d = T.subscribers.c, T.deliveries.c
        stamp = literal(now, UtcDateTime())
        rows = (
            select(
                literal(campaign_id),
                s.id,
                literal("pending"),
                literal(0),
                literal(""),
                literal(""),
                stamp,
                stamp,
            )
            .where(
                eligible(campaign_id, after, _NO_LIMIT if upto is None else upto),
                condition(node, self.dialect),
                *self._not_present(campaign_id),
            )
            .order_by(s.id)
        )
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        columns = ["campaign_id", "subscriber_id", "status", "attempts", "text", "message_id"]
        return (
            insert(T.deliveries)
            .from_select([*columns, "created_at", "updated_at"], rows)
            .on_conflict_do_nothing(index_elements=[d.campaign_id, d.subscriber_id])
        )

    def _not_present(self, campaign_id: int) -> list[ColumnElement[bool]]:
        """_NOT_PRESENT as a condition on T.subscribers (PostgreSQL only)."""
        if self.dialect != "postgresql":
            return []
        d = T.deliveries.c
        present = select(literal(1)).where(
            d.campaign_id == campaign_id, d.subscriber_id == T.subscribers.c.id
        )
        return [~exists(present)]

    async def last_subscriber_id(self, conn: AsyncConnection) -> int:
        return int(await conn.scalar(select(func.coalesce(func.max(T.subscribers.c.id), 0))) or 0)
