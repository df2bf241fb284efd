"""A ledger chunk's cost follows the chunk, not the whole database: a large campaign is
populated in chunks while it sends, each chunk holding SQLite's write lock. Reading every
subscription of a 1M list per chunk made the ledger O(N^2) and stalled every sender (0.45 s a
chunk); walking every subscriber id per chunk would make a small list in a large database pay
for everyone. The ledger picks by the lists' size, and both statements add the same rows."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from campaignd.db import ledger as ledger_sql
from campaignd.db.ledger import Ledger
from campaignd.db.migrate import upgrade
from campaignd.domain import SubscriberStatus, SubscriptionStatus
from campaignd.store.sql import SqlStore
from tests.integration.store_fixtures import campaign, double, single, subscriber

SUBSCRIBERS = 20_000
NOW = "2026-03-01 12:00:00.000000"
NOW_DT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _fill(path: Path, n: int, lists: dict[int, int]) -> None:
    """n enabled subscribers; list id -> every k-th of them is a confirmed member."""
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO subscribers (id, uuid, email, email_key, name, attributes, status,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, 'n', '{}', 'enabled', ?, ?)",
            ((i, f"{i:032x}", f"u{i}@x.org", f"u{i}@x.org", NOW, NOW) for i in range(1, n + 1)),
        )
        for list_id, every in lists.items():
            conn.executemany(
                "INSERT INTO subscriptions (subscriber_id, list_id, status, created_at,"
                " updated_at) VALUES (?, ?, 'confirmed', ?, ?)",
                ((i, list_id, NOW, NOW) for i in range(every, n + 1, every)),
            )


def _steps(path: Path, campaign_id: int, members: int, chunks: list[tuple[int, int]]) -> int:
    """SQLite virtual-machine steps (thousands) to populate these chunks, as the ledger does."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    ledger = Ledger("sqlite")
    with sqlite3.connect(path) as conn:
        conn.set_progress_handler(count, 1000)
        for after, upto in chunks:
            params = {"cid": campaign_id, "now": NOW, "after": after, "upto": upto}
            conn.execute(ledger.populate_statement(members, after, upto).text, params)
    return steps


async def _setup(sqlite_url: str) -> tuple[Path, int, int]:
    """A database of SUBSCRIBERS: a campaign to a list of all, one to a list of 1 in 200."""
    await upgrade(sqlite_url)
    store = await SqlStore.open(sqlite_url)
    try:
        big, small = await single(store, "big"), await single(store, "small")
        big_campaign = await campaign(store, "big", name="to-big")
        small_campaign = await campaign(store, "small", name="to-small")
    finally:
        await store.close()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    _fill(path, SUBSCRIBERS, {big: 1, small: 200})
    return path, big_campaign, small_campaign


def _ledger(path: Path, campaign_id: int) -> list[int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT subscriber_id FROM deliveries WHERE campaign_id = ? ORDER BY 1", (campaign_id,)
        )
        return [r[0] for r in rows]


async def test_a_small_chunk_of_a_large_list_costs_little(sqlite_url: str) -> None:
    path, big, _ = await _setup(sqlite_url)
    small_steps = _steps(path, big, SUBSCRIBERS, [(0, 100)])
    large_steps = _steps(path, big, SUBSCRIBERS, [(100, 10_100)])
    assert _ledger(path, big) == list(range(1, 10_101))
    # 100 ids are 1% of the 10,000-id chunk; reading the whole list per chunk made it ~30%.
    assert small_steps * 20 < large_steps, (small_steps, large_steps)


async def test_a_small_list_does_not_pay_for_every_subscriber(sqlite_url: str) -> None:
    path, big, small = await _setup(sqlite_url)
    chunks = [(0, 5_000), (5_000, 10_000), (10_000, 15_000), (15_000, 20_000)]
    small_steps = _steps(path, small, SUBSCRIBERS // 200, chunks)
    assert _ledger(path, small) == list(range(200, SUBSCRIBERS + 1, 200))
    big_steps = _steps(path, big, SUBSCRIBERS, chunks)
    assert len(_ledger(path, big)) == SUBSCRIBERS
    # 100 members against 20,000: walking every subscriber id per chunk cost about a third.
    assert small_steps * 20 < big_steps, (small_steps, big_steps)


@pytest.mark.parametrize("per_id", [0, 10**9], ids=["by-subscriber", "by-list"])
async def test_both_statements_add_the_same_recipients(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, per_id: int
) -> None:
    monkeypatch.setattr(ledger_sql, "BY_LIST_PER_ID", per_id)
    S = SubscriptionStatus
    await upgrade(sqlite_url)
    store: Any = await SqlStore.open(sqlite_url)
    try:
        one, two, dbl = await single(store, "one"), await single(store, "two"), await double(store)
        expected = [
            await subscriber(store, "both@x.org", (one, two)),  # once, though on two lists
            await subscriber(store, "single-unconfirmed@x.org", (one,), S.UNCONFIRMED),
            await subscriber(store, "double-confirmed@x.org", (dbl,)),
        ]
        await subscriber(store, "double-unconfirmed@x.org", (dbl,), S.UNCONFIRMED)
        await subscriber(store, "elsewhere@x.org")
        gone = await subscriber(store, "gone@x.org", (one,))
        await store.unsubscribe(gone, None)
        await subscriber(store, "blocked@x.org", (two,))
        await store.set_subscriber_status("blocked@x.org", SubscriberStatus.BLOCKLISTED)
        cid = await campaign(store, "one", "two", "double")
        last = await store.last_subscriber_id()
        added = 0
        for after in range(0, last, 2):  # chunks of two ids
            added += await store.populate_ledger(cid, NOW_DT, after=after, upto=after + 2)
        assert added == len(expected)
        assert await store.populate_ledger(cid, NOW_DT) == 0
    finally:
        await store.close()
    assert _ledger(Path(sqlite_url.removeprefix("sqlite:///")), cid) == sorted(expected)


async def test_the_store_counts_the_lists_and_picks_per_pass(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the store: the real count (capped) and the statement chosen from it, counted
    again when a new pass starts at id 0 (the list may have grown since the last run)."""
    path, big, small = await _setup(sqlite_url)
    monkeypatch.setattr(ledger_sql, "_COUNT_UP_TO", 5_000)
    chosen: list[tuple[int, int, str]] = []
    choose = Ledger.populate_statement

    def spy(self: Ledger, members: int, after: int, upto: int) -> Any:
        statement = choose(self, members, after, upto)
        kind = "by-list" if statement is self._populate_by_list else "by-subscriber"
        chosen.append((members, after, kind))
        return statement

    monkeypatch.setattr(Ledger, "populate_statement", spy)
    store: Any = await SqlStore.open(sqlite_url)
    try:
        for cid in (big, small):
            for after in range(0, SUBSCRIBERS, 1_000):
                await store.populate_ledger(cid, NOW_DT, after=after, upto=after + 1_000)
        # The big list is counted up to the cap, which is above 3 per id of a 1,000-id chunk.
        starts = range(0, SUBSCRIBERS, 1_000)
        assert chosen[:20] == [(5_000, a, "by-subscriber") for a in starts]
        assert chosen[20:] == [(100, a, "by-list") for a in starts]
        assert len(_ledger(path, big)) == SUBSCRIBERS
        assert len(_ledger(path, small)) == SUBSCRIBERS // 200

        # The small list grows to everyone; the next pass counts again and walks ids.
        with sqlite3.connect(path) as conn:
            small_list = conn.execute("SELECT id FROM lists WHERE name = 'small'").fetchone()[0]
            conn.execute(
                "INSERT OR IGNORE INTO subscriptions (subscriber_id, list_id, status, created_at,"
                " updated_at) SELECT id, ?, 'confirmed', ?, ? FROM subscribers",
                (small_list, NOW, NOW),
            )
        chosen.clear()
        await store.populate_ledger(small, NOW_DT, after=0, upto=1_000)
        assert chosen == [(5_000, 0, "by-subscriber")]
        assert len(_ledger(path, small)) == 1_000 + (SUBSCRIBERS // 200 - 5)
    finally:
        await store.close()
