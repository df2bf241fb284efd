"""subscribers.membership (the admin API's subscriber use cases) on memory, SQLite, PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from campaignd.domain import SubscriberStatus, SubscriptionStatus
from campaignd.errors import Conflict, InvalidInput, NotFound
from campaignd.subscribers import membership
from tests.integration.store_fixtures import single, store, store_url

__all__ = ["store", "store_url"]  # fixtures
CONFIRMED = SubscriptionStatus.CONFIRMED


async def test_add_then_upsert_updates_only_what_is_given(store: Any) -> None:
    a, b = await single(store, "a"), await single(store, "b")
    made, new = await membership.add_subscriber(
        store, "Ann@Example.com", name="Ann", attributes={"city": "Oslo"}, list_ids=[a]
    )
    assert new and made.email == "Ann@example.com"
    with pytest.raises(Conflict):
        await membership.add_subscriber(store, "ann@example.com")
    again, new = await membership.add_subscriber(
        store, "ann@example.com", attributes={"plan": "pro"}, list_ids=[b], status=CONFIRMED,
        upsert=True,
    )  # fmt: skip
    assert not new and again.id == made.id
    assert (again.name, dict(again.attributes)) == ("Ann", {"plan": "pro"})
    assert [(s.list_id, s.status) for s in again.subscriptions] == [
        (a, SubscriptionStatus.UNCONFIRMED),
        (b, CONFIRMED),
    ]


async def test_refusals_change_nothing(store: Any) -> None:
    a = await single(store)
    with pytest.raises(NotFound):
        await membership.add_subscriber(store, "bob@example.com", list_ids=[a, a + 100])
    with pytest.raises(InvalidInput):
        await membership.add_subscriber(store, "not an address")
    with pytest.raises(InvalidInput):
        await membership.add_subscriber(store, "bob@example.com", attributes={"x": "y" * 70_000})
    with pytest.raises(NotFound):
        await store.get_subscriber("bob@example.com")


async def test_subscribe_unsubscribe_blocklist(store: Any) -> None:
    a, b = await single(store, "a"), await single(store, "b")
    made, _ = await membership.add_subscriber(store, "cat@example.com", list_ids=[a])
    await store.unsubscribe(made.id, [a])
    back = await membership.subscribe(store, made.id, [a, b], CONFIRMED)
    assert [(s.list_id, s.status) for s in back.subscriptions] == [(a, CONFIRMED), (b, CONFIRMED)]
    # a confirmed subscription is not turned back into an unconfirmed one
    same = await membership.subscribe(store, made.id, [a], SubscriptionStatus.UNCONFIRMED)
    assert [s.status for s in same.subscriptions] == [CONFIRMED, CONFIRMED]
    other = await single(store, "other")
    with pytest.raises(InvalidInput, match="not on the list"):
        await membership.unsubscribe(store, made.id, [b, other])
    assert await membership.unsubscribe(store, made.id, [b]) == 1
    blocked = await membership.blocklist(store, made.id)
    assert blocked.status is SubscriberStatus.BLOCKLISTED
    with pytest.raises(InvalidInput, match="blocklisted"):
        await membership.subscribe(store, made.id, [a])
    with pytest.raises(NotFound):
        await membership.subscribe(store, made.id + 99, [a])
