"""A campaign's audience still to send, counted per attribute its templates use (one scan)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Names per statement: each is one CASE over the subscriber's JSON attributes.
_NAMES_PER_SCAN = 50

# The subscribers populate_ledger would add (db.ledger's eligibility rule), less those with a
# final ledger row of this campaign (sent, failed, unknown or skipped).
_AUDIENCE = """
SELECT count(*){sums}
FROM subscribers s
WHERE s.status = 'enabled'
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


def _has_key(dialect: str, param: str) -> str:
    """SQL true when the subscriber's attributes object has the key bound to `param` (a key
    holding JSON null counts: it is there). Keys are bound, never spliced into the SQL."""
    if dialect == "postgresql":
        return f"jsonb_exists(CAST(s.attributes AS jsonb), :{param})"
    return f"EXISTS (SELECT 1 FROM json_each(s.attributes) a WHERE a.key = :{param})"


async def missing_attributes(
    conn: AsyncConnection, dialect: str, campaign_id: int, names: Sequence[str]
) -> tuple[int, dict[str, int]]:
    """(recipients still to send, {name: how many of them lack it})."""
    names = list(dict.fromkeys(names))
    total = 0
    missing: dict[str, int] = {}
    for start in range(0, max(len(names), 1), _NAMES_PER_SCAN):
        chunk = names[start : start + _NAMES_PER_SCAN]
        sums = "".join(
            f", coalesce(sum(CASE WHEN {_has_key(dialect, f'k{i}')} THEN 0 ELSE 1 END), 0)"
            for i in range(len(chunk))
        )
        params: dict[str, object] = {"cid": campaign_id}
        params.update({f"k{i}": name for i, name in enumerate(chunk)})
        row = (await conn.execute(text(_AUDIENCE.format(sums=sums)), params)).one()
        total = int(row[0])
        missing.update({name: int(row[i + 1]) for i, name in enumerate(chunk)})
    return total, missing
