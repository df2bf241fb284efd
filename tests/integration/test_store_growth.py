"""The Store contract for a list's growth, on every store: subscriptions per UTC day."""

from __future__ import annotations

import datetime as dt
from typing import Any

from campaignd.domain import (
    NewSubscriber,
    SubscriberStatus,
    SubscriberUpdate,
    SubscriptionDay,
    SubscriptionStatus,
)
from tests.integration.store_fixtures import single, store, store_url

__all__ = ["store", "store_url"]  # fixtures

PLUS2 = dt.timezone(dt.timedelta(hours=2))
MAR1, MAR3, MAR5 = dt.date(2026, 3, 1), dt.date(2026, 3, 3), dt.date(2026, 3, 5)


async def _person(store: Any, email: str) -> int:
    added = await store.add_subscriber(
        NewSubscriber(email, email[0], {}), (), SubscriptionStatus.CONFIRMED
    )
    return int(added.id)


async def test_growth_counts_subscriptions_and_unsubscribes_per_utc_day(store: Any) -> None:
    lid, other = await single(store, "news"), await single(store, "other")
    a, b, c, d, e = [await _person(store, f"{n}@example.com") for n in "abcde"]
    # 23:30 and 01:00 the next day at +02:00 are both 1 March in UTC.
    await store.subscribe(a, [lid], dt.datetime(2026, 3, 1, 23, 30, tzinfo=PLUS2))
    await store.subscribe(b, [lid], dt.datetime(2026, 3, 2, 1, 0, tzinfo=PLUS2))
    for sid in (c, d, e):
        await store.subscribe(sid, [lid, other], dt.datetime(2026, 3, 3, 10, tzinfo=dt.UTC))
    # c is blocklisted on 5 March: every subscription of c ends that day.
    blocked = SubscriberUpdate(status=SubscriberStatus.BLOCKLISTED)
    await store.update_subscriber(c, blocked, dt.datetime(2026, 3, 5, 9, tzinfo=dt.UTC))
    # d unsubscribes from this list now; e unsubscribes and comes back (no unsubscribe left).
    before = dt.datetime.now(dt.UTC).date()
    assert await store.unsubscribe(d, [lid]) == 1
    await store.unsubscribe(e, None)
    await store.subscribe(e, [lid], dt.datetime(2026, 3, 5, 12, tzinfo=dt.UTC))
    after = dt.datetime.now(dt.UTC).date()

    days = await store.list_growth(lid)
    assert days[:3] == [
        SubscriptionDay(MAR1, 2, 0),
        SubscriptionDay(MAR3, 3, 0),
        SubscriptionDay(MAR5, 0, 1),
    ]
    assert len(days) == 4
    assert days[3].day in {before, after}
    assert (days[3].subscribed, days[3].unsubscribed) == (0, 1)
    # What is left matches the list's subscriber count.
    left = sum(x.subscribed - x.unsubscribed for x in days)
    assert left == 3 == next(m for m in await store.lists() if m.id == lid).subscriber_count

    assert await store.list_growth(other) == [
        SubscriptionDay(MAR3, 3, 0),
        SubscriptionDay(MAR5, 0, 1),
        SubscriptionDay(days[3].day, 0, 1),
    ]
    assert await store.list_growth(999) == []
