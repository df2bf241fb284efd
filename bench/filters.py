"""`python -m bench.filters [URL] [N]`: what the filter language costs on a real database.

Fills N subscribers (default 100,000) on one single opt-in list, each with a `city` text and a
`score` stored as text, into URL (default: a SQLite file in a temporary folder; give a fresh
PostgreSQL database to measure it), then times counting three expressions, one page of 100
after an id, and filling a campaign's ledger in 50,000-id chunks with and without a segment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from campaignd.domain import ImportOptions, NewCampaign, NewSubscriber, OptIn, SubscriptionStatus
from campaignd.filters import parse
from campaignd.store.sql import SqlStore, upgrade_schema

CITIES = ("Oslo", "Bergen", "Trondheim", "Tromsø")
QUERIES = ('attributes.city = "Oslo"', "attributes.score >= 5", 'name ~ "user 1"')
SEGMENT = 'attributes.city = "Oslo" and attributes.score >= 5'


async def _fill(store: SqlStore, n: int) -> None:
    news = await store.create_list("News", OptIn.SINGLE, "")
    options = ImportOptions(list_ids=(news.id,), status=SubscriptionStatus.CONFIRMED)
    for start in range(0, n, 5000):
        rows = [
            NewSubscriber(
                f"u{i}@example.com", f"User {i}", {"city": CITIES[i % 4], "score": str(i % 10)}
            )
            for i in range(start, min(n, start + 5000))
        ]
        await store.import_batch(rows, options)


async def _populate(store: SqlStore, segment: str | None) -> tuple[int, float]:
    new = NewCampaign(
        name="bench",
        subject="s",
        from_email="a@example.com",
        body="b",
        lists=("News",),
        segment=segment,
    )
    campaign = await store.create_campaign(new, None)
    now, last, after, added = dt.datetime.now(dt.UTC), await store.last_subscriber_id(), 0, 0
    started = time.perf_counter()
    while after < last:
        added += await store.populate_ledger(campaign.id, now, after=after, upto=after + 50_000)
        after += 50_000
    return added, time.perf_counter() - started


async def main(url: str, n: int) -> None:
    await upgrade_schema(url)
    store = await SqlStore.open(url)
    try:
        await _fill(store, n)
        for query in QUERIES:
            started = time.perf_counter()
            count = await store.count_subscribers(parse(query))
            print(f"count {query!r}: {count} in {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        page = await store.query_subscribers(parse(QUERIES[0]), n * 9 // 10, 100)
        print(
            f"a page of {len(page)} after id {n * 9 // 10}: {time.perf_counter() - started:.3f} s"
        )
        for segment in (None, SEGMENT):
            added, seconds = await _populate(store, segment)
            print(f"ledger fill, segment {segment!r}: {added} rows in {seconds:.2f} s")
    finally:
        await store.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        target = (
            sys.argv[1]
            if len(sys.argv) > 1 and sys.argv[1]
            else f"sqlite:///{Path(folder) / 'bench.db'}"
        )
        asyncio.run(main(target, int(sys.argv[2]) if len(sys.argv) > 2 else 100_000))
