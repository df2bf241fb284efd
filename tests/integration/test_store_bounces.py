"""BounceStore listings and per-campaign counts, on every store (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from campaignd.domain import BounceCounts
from tests.integration.store_fixtures import campaign, single, store, store_url, subscriber

__all__ = ["store", "store_url"]  # fixtures

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


async def world(store: Any) -> tuple[int, int, int, int]:
    """Two subscribers, two campaigns, and their bounces at T0+1..T0+5 minutes."""
    news = await single(store, "news")
    a = await subscriber(store, "Ann@Example.com", (news,))
    b = await subscriber(store, "bob@example.com", (news,))
    first = await campaign(store, "news", name="spring")
    second = await campaign(store, "news", name="summer")
    await store.add_bounce(a, first, "soft", "smtp", "452 4.2.2 mailbox full", at(1))
    await store.add_bounce(b, first, "hard", "mail", "550 5.1.1 no such user", at(2))
    await store.add_bounce(a, second, "complaint", "ses", "abuse", at(3))
    await store.add_bounce(a, None, "soft", "postmark", "x" * 5000, at(4))
    await store.add_bounce(b, 999, "soft", "smtp", "421 later", at(5))  # campaign not stored
    return a, b, first, second


async def test_bounces_are_listed_newest_first_with_address_and_campaign(store: Any) -> None:
    a, b, first, second = await world(store)
    listed = await store.bounces()
    assert [(x.email, x.kind, x.campaign_id) for x in listed] == [
        ("bob@example.com", "soft", 999),
        ("Ann@Example.com", "soft", None),
        ("Ann@Example.com", "complaint", second),
        ("bob@example.com", "hard", first),
        ("Ann@Example.com", "soft", first),
    ]
    assert [x.campaign_name for x in listed] == [None, None, "summer", "spring", "spring"]
    assert [x.created_at for x in listed] == [at(5), at(4), at(3), at(2), at(1)]
    assert all(x.created_at.utcoffset() == dt.timedelta(0) for x in listed)
    assert listed[3].reason == "550 5.1.1 no such user" and listed[3].source == "mail"
    assert listed[1].reason == "x" * 2000  # stored reasons are capped
    assert {x.subscriber_id for x in listed} == {a, b}
    assert len({x.id for x in listed}) == 5


async def test_bounces_filter_by_campaign_subscriber_and_limit(store: Any) -> None:
    a, b, first, second = await world(store)
    by_campaign = await store.bounces(campaign_id=first)
    assert [(x.email, x.kind) for x in by_campaign] == [
        ("bob@example.com", "hard"),
        ("Ann@Example.com", "soft"),
    ]
    by_person = await store.bounces(subscriber_id=a)
    assert [x.kind for x in by_person] == ["soft", "complaint", "soft"]
    both = await store.bounces(campaign_id=first, subscriber_id=a)
    assert [(x.kind, x.created_at) for x in both] == [("soft", at(1))]
    assert [x.created_at for x in await store.bounces(limit=2)] == [at(5), at(4)]
    assert await store.bounces(limit=0) == []
    assert await store.bounces(campaign_id=second + 100) == []
    assert await store.bounces(subscriber_id=b + 100) == []


async def test_bounce_counts_per_campaign_by_kind(store: Any) -> None:
    _a, _b, first, second = await world(store)
    assert await store.bounce_counts(first) == BounceCounts(hard=1, soft=1, complaint=0)
    assert await store.bounce_counts(second) == BounceCounts(hard=0, soft=0, complaint=1)
    assert await store.bounce_counts(second + 100) == BounceCounts()


async def test_same_time_bounces_list_the_later_recorded_first(store: Any) -> None:
    news = await single(store, "news")
    a = await subscriber(store, "a@example.com", (news,))
    for reason in ("one", "two", "three"):
        await store.add_bounce(a, None, "soft", "smtp", reason, T0)
    assert [x.reason for x in await store.bounces(subscriber_id=a)] == ["three", "two", "one"]
