"""A ledger chunk's cost follows the chunk, not the list: a large campaign is populated in chunks
while it sends, each chunk holding SQLite's write lock, so a chunk that read the whole list
made the ledger O(N^2) and stalled every sender for the duration (0.45 s per chunk at 1M)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from campaignd.db.ledger import Ledger
from campaignd.db.migrate import upgrade
from campaignd.store.sql import SqlStore
from tests.integration.store_fixtures import campaign, single

LIST_SIZE = 20_000


def _fill(path: Path, list_id: int, n: int) -> None:
    now = "2026-03-01 12:00:00.000000"
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO subscribers (id, uuid, email, email_key, name, attributes, status,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, 'n', '{}', 'enabled', ?, ?)",
            ((i, f"{i:032x}", f"u{i}@x.org", f"u{i}@x.org", now, now) for i in range(1, n + 1)),
        )
        conn.executemany(
            "INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)"
            " VALUES (?, ?, 'confirmed', ?, ?)",
            ((i, list_id, now, now) for i in range(1, n + 1)),
        )


def _populate_steps(path: Path, campaign_id: int, after: int, upto: int) -> tuple[int, int]:
    """(rows added, SQLite virtual-machine steps in thousands) for one chunk."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    with sqlite3.connect(path) as conn:
        conn.set_progress_handler(count, 1000)
        params = {"cid": campaign_id, "now": "2026-03-01 12:00:00", "after": after, "upto": upto}
        added = conn.execute(Ledger("sqlite")._populate.text, params).rowcount
    return added, steps


async def test_a_small_chunk_of_a_large_list_costs_little(sqlite_url: str) -> None:
    await upgrade(sqlite_url)
    store = await SqlStore.open(sqlite_url)
    try:
        list_id = await single(store, "big")
        cid = await campaign(store, "big")
    finally:
        await store.close()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    _fill(path, list_id, LIST_SIZE)

    small, small_steps = _populate_steps(path, cid, 0, 100)
    large, large_steps = _populate_steps(path, cid, 100, 10_100)

    assert (small, large) == (100, 10_000)
    # 100 ids are 1% of the 10,000-id chunk; reading the whole list per chunk made it ~30%.
    assert small_steps * 20 < large_steps, (small_steps, large_steps)
