"""Several daemons on one PostgreSQL fill a campaign's ledger once between them.

Every daemon's runner walks every chunk of the ledger fill (campaignd.sending.ledgerfill). A
chunk waits for another daemon's fill of the same campaign to commit (a transaction-level
advisory lock) instead of evaluating the same subscribers beside it, and subscribers already in
the ledger are left out before their eligibility is checked, so the second pass over a filled
chunk adds nothing and reads no subscription. Real PostgreSQL (CAMPAIGND_TEST_PG_URL)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import asyncpg
import pytest

from campaignd.db.ledger import FILL_LOCK, Ledger
from campaignd.domain import utcnow
from campaignd.store.sql import SqlStore
from tests.integration.store_fixtures import campaign, pg_bulk_unconfirmed, single

SUBSCRIBERS = 5_000
pytestmark = pytest.mark.parametrize("store_url", ["postgres"], indirect=True)


async def _ledger(url: str, campaign_id: int) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT subscriber_id FROM deliveries WHERE campaign_id = $1 ORDER BY 1", campaign_id
        )
        return [r[0] for r in rows]
    finally:
        await conn.close()


async def _setup(store: Any, url: str) -> int:
    list_id = await single(store)
    await pg_bulk_unconfirmed(url, list_id, SUBSCRIBERS)
    return await campaign(store, "single")


async def test_two_daemons_filling_at_once_add_each_recipient_once(
    store: Any, store_url: str
) -> None:
    campaign_id = await _setup(store, store_url)
    other = await SqlStore.open(store_url)
    chunks = [(0, 1_000), (1_000, 3_000), (3_000, SUBSCRIBERS)]
    try:

        async def walk(s: Any) -> int:
            added = 0
            for after, upto in chunks:
                added += await s.populate_ledger(campaign_id, utcnow(), after=after, upto=upto)
            return added

        added = await asyncio.gather(walk(store), walk(other))
    finally:
        await other.close()
    assert sum(added) == SUBSCRIBERS
    assert await _ledger(store_url, campaign_id) == list(range(1, SUBSCRIBERS + 1))


async def test_a_chunk_waits_for_another_daemons_fill_of_the_campaign(
    store: Any, store_url: str
) -> None:
    campaign_id = await _setup(store, store_url)
    first = await asyncpg.connect(store_url)
    try:
        filling = first.transaction()
        await filling.start()  # another daemon in the middle of a chunk of this campaign
        await first.execute("SELECT pg_advisory_xact_lock($1, $2)", FILL_LOCK, campaign_id)
        second = asyncio.create_task(store.populate_ledger(campaign_id, utcnow(), upto=1_000))
        await asyncio.sleep(0.5)
        assert not second.done()
        await filling.commit()
        assert await asyncio.wait_for(second, 10) == 1_000
    finally:
        await first.close()


async def test_filling_a_filled_chunk_again_reads_no_subscription(
    store: Any, store_url: str
) -> None:
    campaign_id = await _setup(store, store_url)
    assert await store.populate_ledger(campaign_id, utcnow()) == SUBSCRIBERS
    params = {"cid": campaign_id, "now": utcnow(), "after": 0, "upto": SUBSCRIBERS}

    def inline(match: re.Match[str]) -> str:  # EXPLAIN takes no bind parameters
        value = params[match.group(1)]
        return f"'{value.isoformat()}'" if hasattr(value, "isoformat") else repr(value)

    statement = Ledger("postgresql").populate_statement(SUBSCRIBERS, 0, SUBSCRIBERS).text
    sql = re.sub(r"(?<!:):(\w+)\b", inline, statement)
    conn = await asyncpg.connect(store_url)
    try:
        async with conn.transaction():
            raw = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
    finally:
        await conn.close()
    nodes, todo = [], [json.loads(raw)[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    read = [
        n["Actual Rows"] * n["Actual Loops"]
        for n in nodes
        if n.get("Relation Name") == "subscriptions"
    ]
    assert sum(read) == 0, read
    assert await _ledger(store_url, campaign_id) == list(range(1, SUBSCRIBERS + 1))
