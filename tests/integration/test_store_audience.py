"""Counting a campaign's recipients that lack template attributes, on every store."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from campaignd.domain import (
    DeliveryRecord,
    DeliveryStatus,
    NewCampaign,
    NewSubscriber,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.errors import NotFound
from tests.integration.store_fixtures import double, single, store, store_url

__all__ = ["store", "store_url"]  # fixtures

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
WEIRD = 'we.ird "key" [0] $\''
HOSTILE = "x'); DROP TABLE subscribers; --"


async def add(
    store: Any,
    email: str,
    attributes: dict[str, Any],
    lists: tuple[int, ...],
    status: SubscriptionStatus = SubscriptionStatus.CONFIRMED,
) -> int:
    added = await store.add_subscriber(NewSubscriber(email, "N", attributes), lists, status)
    return int(added.id)


async def test_counts_eligible_recipients_lacking_each_attribute(store: Any) -> None:
    news, vip = await single(store, "news"), await double(store, "vip")
    unconfirmed = SubscriptionStatus.UNCONFIRMED
    await add(store, "a@example.com", {"city": "Oslo", "plan": None, WEIRD: 1}, (news,))
    b = await add(store, "b@example.com", {}, (news,))
    await add(store, "c@example.com", {"city": "", "nested": {"plan": 1}}, (news,), unconfirmed)
    await add(store, "d@example.com", {WEIRD: 0, "plan": "x"}, (news, vip))
    await add(store, "blocked@example.com", {}, (news,))
    await store.set_subscriber_status("blocked@example.com", SubscriberStatus.BLOCKLISTED)
    await add(store, "unconfirmed@example.com", {}, (vip,), unconfirmed)  # double opt-in
    gone = await add(store, "gone@example.com", {}, (news,))
    await store.unsubscribe(gone, None)
    await add(store, "other@example.com", {}, ())  # on no list of the campaign
    created = await store.create_campaign(
        NewCampaign(
            name="c", subject="s", from_email="me@example.com", body="b", lists=("news", "vip")
        ),
        None,
    )
    names = ["city", "plan", WEIRD, HOSTILE]

    missing = await store.missing_attributes(created.id, names)
    # Of a, b, c and d (the others are not recipients): a key holding null is present; a
    # nested key does not count at the top level.
    assert missing == {"city": 2, "plan": 2, WEIRD: 2, HOSTILE: 4}
    assert await store.missing_attributes(created.id, []) == {}

    # Recipients already done leave the count; pending or deferred ones stay in it.
    await store.populate_ledger(created.id, T0)
    claimed = await store.claim_batch(created.id, "me", 10, T0)
    done = next(r for r in claimed if r.subscriber_id == b)
    await store.record_deliveries(
        [
            DeliveryRecord(done.ledger_id, DeliveryStatus.SENT, 1, 250, None, "ok", None, "<m>"),
            *(
                DeliveryRecord(
                    r.ledger_id,
                    DeliveryStatus.DEFERRED,
                    1,
                    451,
                    None,
                    "later",
                    None,
                    "<m>",
                    next_attempt_at=T0 + dt.timedelta(minutes=1),
                )
                for r in claimed
                if r is not done
            ),
        ],
        T0,
    )
    assert await store.missing_attributes(created.id, ["city", "plan"]) == {"city": 1, "plan": 1}


async def test_many_names_are_counted_in_several_scans(store: Any) -> None:
    news = await single(store, "news")
    await add(store, "a@example.com", {f"k{i}": i for i in range(0, 120, 2)}, (news,))
    created = await store.create_campaign(
        NewCampaign(name="c", subject="s", from_email="me@example.com", body="b", lists=("news",)),
        None,
    )
    names = [f"k{i}" for i in range(120)]
    missing = await store.missing_attributes(created.id, names)
    assert missing == {f"k{i}": i % 2 for i in range(120)}


async def test_unknown_campaign_is_not_found(store: Any) -> None:
    with pytest.raises(NotFound):
        await store.missing_attributes(99, ["city"])
