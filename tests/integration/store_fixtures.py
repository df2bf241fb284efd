"""Stores for the contract suite: memory, SQLite (a file per test), PostgreSQL (schema once)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from campaignd.domain import NewCampaign, NewSubscriber, OptIn, SubscriptionStatus
from campaignd.store.protocol import CampaignStore, SubscriberStore

_TABLES = (
    "track_counts, track_events, deliveries, campaign_lists, campaigns, subscriptions, subscribers,"
    " lists, templates, api_tokens"
)
_PG_READY: set[str] = set()


async def _pg_clean(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """ "memory", or a migrated empty database (sync: pg_server_url runs its own loop)."""
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        url = str(request.getfixturevalue("sqlite_url"))
        from campaignd.db.migrate import upgrade

        asyncio.run(upgrade(url))
        return url
    url = str(request.getfixturevalue("pg_server_url"))
    if url not in _PG_READY:
        from campaignd.db.migrate import upgrade

        asyncio.run(upgrade(url))
        _PG_READY.add(url)
    asyncio.run(_pg_clean(url))
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Any]:
    if store_url == "memory":
        from campaignd.store.memory import MemoryStore

        s: Any = MemoryStore()
    else:
        from campaignd.store.sql import SqlStore

        s = await SqlStore.open(store_url)
    try:
        yield s
    finally:
        await s.close()


async def subscriber(
    store: SubscriberStore,
    email: str,
    list_ids: tuple[int, ...] = (),
    status: SubscriptionStatus = SubscriptionStatus.CONFIRMED,
    name: str = "",
) -> int:
    added = await store.add_subscriber(
        NewSubscriber(email, name or email.split("@")[0], {"n": email}), list_ids, status
    )
    return added.id


async def campaign(store: CampaignStore, *lists: str, name: str = "c") -> int:
    created = await store.create_campaign(
        NewCampaign(name=name, subject="s", from_email="me@example.com", body="b", lists=lists),
        None,
    )
    return created.id


async def single(store: SubscriberStore, name: str = "single") -> int:
    return (await store.create_list(name, OptIn.SINGLE, "")).id


async def double(store: SubscriberStore, name: str = "double") -> int:
    return (await store.create_list(name, OptIn.DOUBLE, "")).id


async def pg_bulk_unconfirmed(url: str, list_id: int, count: int, *, analyze: bool = False) -> None:
    """COUNT enabled subscribers straight in SQL (u1@x.org ...), each on the list unconfirmed as an
    import adds them; ``analyze`` refreshes the planner's statistics as the import does."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO subscribers (uuid, email, email_key, name, attributes, status,"
            " created_at, updated_at) SELECT gen_random_uuid(), 'u' || i || '@x.org',"
            " 'u' || i || '@x.org', 'n', '{}', 'enabled', now(), now()"
            " FROM generate_series(1, $1) i",
            count,
        )
        await conn.execute(
            "INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)"
            " SELECT id, $1, 'unconfirmed', now(), now() FROM subscribers",
            list_id,
        )
        if analyze:
            await conn.execute("ANALYZE subscribers, subscriptions")
    finally:
        await conn.close()
