"""A claim's cost on PostgreSQL follows the rows it claims, not the lists behind them.

The claim checks each row's eligibility (enabled, still on one of the campaign's lists). The
planner was free to turn that EXISTS into a hashed subplan: every subscription of every
campaign's lists hashed once per claim (150-200 ms of a 1,000-row claim at 50,000 subscribers
and six campaigns, more with every campaign sent), instead of a few index look-ups per claimed
row. Two daemons sharing the database pay it per claim each. Real PostgreSQL
(CAMPAIGND_TEST_PG_URL)."""

from __future__ import annotations

import json
import re
from typing import Any

import asyncpg
import pytest

from campaignd.db.claims import Claims
from campaignd.domain import utcnow
from tests.integration.store_fixtures import campaign, pg_bulk_unconfirmed, single

SUBSCRIBERS = 20_000
pytestmark = pytest.mark.parametrize("store_url", ["postgres"], indirect=True)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", []):
        out.extend(_nodes(child))
    return out


async def test_a_claim_reads_per_claimed_row_not_the_whole_list(store: Any, store_url: str) -> None:
    list_id = await single(store)
    await pg_bulk_unconfirmed(store_url, list_id, SUBSCRIBERS, analyze=True)
    campaigns = [await campaign(store, "single", name=f"c{i}") for i in range(3)]
    claiming = campaigns[-1]
    await store.populate_ledger(claiming, utcnow())

    claims = Claims("postgresql")
    params = {"cid": claiming, "owner": "d0", "n": 1000, "now": utcnow(), "after": 0}

    def inline(match: re.Match[str]) -> str:  # EXPLAIN takes no bind parameters
        value = params[match.group(1)]
        return f"'{value.isoformat()}'" if hasattr(value, "isoformat") else repr(value)

    sql = re.sub(r"(?<!:):(\w+)\b", inline, claims._claim.text)
    conn = await asyncpg.connect(store_url)
    try:
        async with conn.transaction():
            raw = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
    finally:
        await conn.close()
    plan = json.loads(raw)[0]["Plan"]
    assert plan["Actual Rows"] == 1000
    read = [n for n in _nodes(plan) if n.get("Relation Name") == "subscriptions"]
    assert read, plan
    # One subscription looked up per claimed row (by its key), not the list's 20,000 hashed.
    assert sum(n["Actual Rows"] * n["Actual Loops"] for n in read) <= 1000, read
    assert all(n["Node Type"] != "Seq Scan" for n in read), read
