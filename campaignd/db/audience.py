"""A campaign's audience: how many are eligible, who of those still to send lacks attributes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import String, and_, case, cast, exists, func, literal, not_, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from campaignd.db import tables as T
from campaignd.db.filters import condition
from campaignd.db.ledger import eligible
from campaignd.filters import Node
from campaignd.rules import FINAL_STATUSES

# Names per statement: each is one CASE over the subscriber's JSON attributes.
_NAMES_PER_SCAN = 50

# The rule populate_ledger uses (db.ledger, rules.eligible), counted.
_ELIGIBLE = """
SELECT count(*)
FROM subscribers s
WHERE s.status = 'enabled'
  AND EXISTS (
    SELECT 1 FROM campaign_lists cl
    JOIN lists l ON l.id = cl.list_id
    JOIN subscriptions sl ON sl.list_id = cl.list_id
    WHERE cl.campaign_id = :cid AND sl.subscriber_id = s.id
      AND (sl.status = 'confirmed' OR (l.optin = 'single' AND sl.status <> 'unsubscribed'))
  )
"""

# Subscribers lacking one of the names (tested first: cheap beside the eligibility test, and
# few pass it), then the rule populate_ledger uses (db.ledger), less those with a final ledger
# row of this campaign (sent, failed, unknown or skipped). At 1M subscribers who all have the
# attribute: ~1 s on SQLite.
_LACKING = """
SELECT {sums}
FROM subscribers s
WHERE NOT ({has_all})
  AND s.status = 'enabled'
  AND EXISTS (
    SELECT 1 FROM campaign_lists cl
    JOIN lists l ON l.id = cl.list_id
    JOIN subscriptions sl ON sl.list_id = cl.list_id
    WHERE cl.campaign_id = :cid AND sl.subscriber_id = s.id
      AND (sl.status = 'confirmed' OR (l.optin = 'single' AND sl.status <> 'unsubscribed'))
  )
  AND NOT EXISTS (
    SELECT 1 FROM deliveries d
    WHERE d.campaign_id = :cid AND d.subscriber_id = s.id
      AND d.status IN ('sent', 'failed', 'unknown', 'skipped')
  )
"""


async def eligible_count(conn: AsyncConnection, campaign_id: int) -> int:
    """How many subscribers the campaign's ledger would hold if filled now."""
    return int((await conn.execute(text(_ELIGIBLE), {"cid": campaign_id})).scalar_one())


def _has_key(dialect: str, param: str) -> str:
    """SQL true when the subscriber's attributes object has the key bound to `param` (a key
    holding JSON null counts: it is there). Keys are bound, never spliced into the SQL."""
    if dialect == "postgresql":
        return f"jsonb_exists(CAST(s.attributes AS jsonb), :{param})"
    return f"EXISTS (SELECT 1 FROM json_each(s.attributes) a WHERE a.key = :{param})"


async def missing_attributes(
    conn: AsyncConnection, dialect: str, campaign_id: int, names: Sequence[str]
) -> dict[str, int]:
    """{name: how many of the recipients still to send lack it}."""
    names = list(dict.fromkeys(names))
    missing: dict[str, int] = {}
    for start in range(0, len(names), _NAMES_PER_SCAN):
        chunk = names[start : start + _NAMES_PER_SCAN]
        has = [_has_key(dialect, f"k{i}") for i in range(len(chunk))]
        sums = ", ".join(f"coalesce(sum(CASE WHEN {h} THEN 0 ELSE 1 END), 0)" for h in has)
        statement = text(_LACKING.format(sums=sums, has_all=" AND ".join(has)))
        params: dict[str, object] = {"cid": campaign_id}
        params.update({f"k{i}": name for i, name in enumerate(chunk)})
        row = (await conn.execute(statement, params)).one()
        missing.update({name: int(row[i]) for i, name in enumerate(chunk)})
    return missing


def _has(dialect: str, name: str) -> ColumnElement[bool]:
    """_has_key as a SQLAlchemy condition on T.subscribers (the name bound)."""
    attrs = T.subscribers.c.attributes
    if dialect == "postgresql":
        return func.jsonb_exists(cast(attrs, JSONB), literal(name, String))
    keys = func.json_each(attrs).table_valued("key").alias("keys")
    return exists(select(literal(1)).select_from(keys).where(keys.c.key == name))


async def missing_attributes_in_segment(
    conn: AsyncConnection, dialect: str, campaign_id: int, names: Sequence[str], segment: Node
) -> dict[str, int]:
    """missing_attributes for a campaign with a segment: its recipients also match it."""
    s, d = T.subscribers.c, T.deliveries.c
    done = exists(
        select(literal(1)).where(
            d.campaign_id == campaign_id,
            d.subscriber_id == s.id,
            d.status.in_(sorted(status.value for status in FINAL_STATUSES)),
        )
    )
    names = list(dict.fromkeys(names))
    missing: dict[str, int] = {}
    for start in range(0, len(names), _NAMES_PER_SCAN):
        chunk = names[start : start + _NAMES_PER_SCAN]
        has = [_has(dialect, name) for name in chunk]
        sums = [func.coalesce(func.sum(case((h, 0), else_=1)), 0) for h in has]
        statement = select(*sums).where(
            not_(and_(*has)), eligible(campaign_id), not_(done), condition(segment, dialect)
        )
        row = (await conn.execute(statement)).one()
        missing.update({name: int(row[i]) for i, name in enumerate(chunk)})
    return missing
