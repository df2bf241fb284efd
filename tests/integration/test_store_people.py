"""The Store contract for managing subscribers (update, delete, wipe, pages, personal data),
on every store: MemoryStore, SqlStore on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from campaignd.domain import (
    CampaignStatus,
    DeliveryRecord,
    DeliveryStatus,
    NewSubscriber,
    SubscriberStatus,
    SubscriberUpdate,
    SubscriptionStatus,
)
from campaignd.errors import Conflict, NotFound
from campaignd.rules import ERASED_ADDRESS
from tests.integration.store_fixtures import campaign, single, store, store_url, subscriber

__all__ = ["store", "store_url"]  # fixtures

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)
UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED


async def running_campaign(store: Any, *lists: str) -> int:
    cid = await campaign(store, *lists)
    await store.transition(cid, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=T0)
    await store.populate_ledger(cid, T0)
    return cid


async def record(store: Any, ledger_id: int, status: DeliveryStatus, text: str) -> None:
    await store.record_deliveries(
        [DeliveryRecord(ledger_id, status, 1, 550, "5.1.1", text, "mx", "<m@x>")], T0
    )


# -- update ----------------------------------------------------------------------------------


async def test_update_sets_only_the_given_fields(store: Any) -> None:
    news = await single(store, "news")
    sid = await subscriber(store, "ann@example.com", (news,))
    before = await store.get_subscriber("ann@example.com")
    after = await store.update_subscriber(sid, SubscriberUpdate(name="Ann B"), T1)
    assert (after.name, after.email, after.attributes) == ("Ann B", before.email, before.attributes)
    assert after.updated_at == T1 and after.created_at == before.created_at
    after = await store.update_subscriber(
        sid, SubscriberUpdate(attributes={"city": "Oslo"}, email="Ann@New.example"), T1
    )
    assert after.attributes == {"city": "Oslo"} and after.email == "Ann@New.example"
    assert (await store.get_subscriber("ann@new.example")).id == sid
    with pytest.raises(NotFound):
        await store.get_subscriber("ann@example.com")
    assert [s.status for s in after.subscriptions] == [SubscriptionStatus.CONFIRMED]


async def test_update_to_a_taken_address_is_refused_and_changes_nothing(store: Any) -> None:
    ann = await subscriber(store, "ann@example.com")
    await subscriber(store, "bob@example.com")
    with pytest.raises(Conflict):
        await store.update_subscriber(ann, SubscriberUpdate(email="BOB@example.com", name="x"), T1)
    assert (await store.get_subscriber("ann@example.com")).name == "ann"
    # its own address in another case is no conflict
    same = await store.update_subscriber(ann, SubscriberUpdate(email="ANN@example.com"), T1)
    assert same.email == "ANN@example.com"
    with pytest.raises(NotFound):
        await store.update_subscriber(9999, SubscriberUpdate(name="x"), T1)


async def test_update_to_blocklisted_unsubscribes_and_back_to_enabled_keeps_that(
    store: Any,
) -> None:
    news = await single(store, "news")
    sid = await subscriber(store, "ann@example.com", (news,))
    blocked = await store.update_subscriber(
        sid, SubscriberUpdate(status=SubscriberStatus.BLOCKLISTED), T1
    )
    assert blocked.status is SubscriberStatus.BLOCKLISTED
    assert [s.status for s in blocked.subscriptions] == [UNSUBSCRIBED]
    back = await store.update_subscriber(sid, SubscriberUpdate(status=SubscriberStatus.ENABLED), T1)
    assert back.status is SubscriberStatus.ENABLED
    assert [s.status for s in back.subscriptions] == [UNSUBSCRIBED]


async def test_subscriber_ids_by_lowercased_address(store: Any) -> None:
    ann = await subscriber(store, "Ann@example.com")
    found = await store.subscriber_ids(["ANN@example.com", "nobody@example.com"])
    assert found == {"ann@example.com": ann}


# -- delete and wipe -------------------------------------------------------------------------


async def test_delete_keeps_ledger_counts_and_skips_what_was_still_to_send(store: Any) -> None:
    news = await single(store, "news")
    ann = await subscriber(store, "ann@example.com", (news,))
    bob = await subscriber(store, "bob@example.com", (news,))
    cid = await running_campaign(store, "news")
    [first, _] = await store.claim_batch(cid, "me", 2, T0)
    await record(store, first.ledger_id, DeliveryStatus.SENT, "ok")
    assert {first.subscriber_id} <= {ann, bob}
    await store.release_claims("me", cid)  # the other one is pending again
    await store.add_bounce(first.subscriber_id, cid, "hard", "smtp", "x", T0)
    before = await store.counts(cid)

    assert await store.delete_subscribers([ann, bob], T1) == 2
    after = await store.counts(cid)
    assert (after.to_send, after.sent, after.pending) == (before.to_send, 1, 0)
    assert after.skipped == before.pending == 1
    assert await store.subscriber_ids(["ann@example.com", "bob@example.com"]) == {}
    assert (await store.lists())[0].subscriber_count == 0
    assert await store.claim_batch(cid, "me", 10, T1) == []
    # a new subscriber inherits no history, and gets the running campaign
    carl = await subscriber(store, "carl@example.com", (news,))
    assert (await store.personal_data(carl)).deliveries == ()
    assert await store.populate_ledger(cid, T1) == 1


async def test_delete_is_all_or_nothing(store: Any) -> None:
    ann = await subscriber(store, "ann@example.com")
    with pytest.raises(NotFound, match="9999"):
        await store.delete_subscribers([ann, 9999], T1)
    assert (await store.get_subscriber("ann@example.com")).id == ann


async def test_wipe_erases_the_address_from_replies_and_keeps_counts(store: Any) -> None:
    news = await single(store, "news")
    ann = await subscriber(store, "ann@example.com", (news,))
    await subscriber(store, "bob@example.com", (news,))
    cid = await running_campaign(store, "news")
    rows = {r.subscriber_id: r for r in await store.claim_batch(cid, "me", 2, T0)}
    await record(store, rows[ann].ledger_id, DeliveryStatus.FAILED, "550 <ANN@example.com> no")
    before = await store.counts(cid)
    await store.add_bounce(ann, cid, "hard", "smtp", "550", T0)

    assert await store.wipe_subscriber(ann, T1) == 1
    assert await store.counts(cid) == before
    with pytest.raises(NotFound):
        await store.personal_data(ann)
    # the failure is still counted but no longer listed by address
    assert [f.email for f in await store.failures(cid)] == []
    with pytest.raises(NotFound):
        await store.wipe_subscriber(ann, T1)


async def test_wiped_reply_text_holds_the_placeholder(store_url: str, store: Any) -> None:
    news = await single(store, "news")
    ann = await subscriber(store, "ann@example.com", (news,))
    cid = await running_campaign(store, "news")
    [row] = await store.claim_batch(cid, "me", 1, T0)
    await record(store, row.ledger_id, DeliveryStatus.FAILED, "550 ann@example.com unknown")
    await store.wipe_subscriber(ann, T1)
    rows: list[str]
    if store_url == "memory":
        rows = [f"{r.text}|{r.message_id}" for r in store._ledger.values()]
    else:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        from campaignd.db.engine import async_url

        engine = create_async_engine(async_url(store_url))
        async with engine.connect() as conn:
            query = text("SELECT text || '|' || message_id FROM deliveries")
            rows = [r[0] for r in await conn.execute(query)]
        await engine.dispose()
    assert rows == [f"550 {ERASED_ADDRESS} unknown|"]


# -- pages and personal data -----------------------------------------------------------------


async def test_subscribers_page_is_keyset_paged_and_filtered(store: Any) -> None:
    news = await single(store, "news")
    other = await single(store, "other")
    ids = [await subscriber(store, f"s{i}@example.com", (news,) if i % 2 else ()) for i in range(5)]
    await store.set_subscriber_status("s3@example.com", SubscriberStatus.BLOCKLISTED)
    first = await store.subscribers_page(limit=2)
    assert [s.id for s in first] == ids[:2] and first[0].subscriptions == ()
    rest = await store.subscribers_page(after_id=first[-1].id, limit=10)
    assert [s.id for s in rest] == ids[2:]
    on_news = await store.subscribers_page(list_id=news)
    assert [s.email for s in on_news] == ["s1@example.com", "s3@example.com"]
    enabled_on_news = await store.subscribers_page(list_id=news, status=SubscriberStatus.ENABLED)
    assert [s.email for s in enabled_on_news] == ["s1@example.com"]
    assert await store.subscribers_page(list_id=other) == []


async def test_personal_data_holds_everything_about_one_person(store: Any) -> None:
    news = await single(store, "news")
    ann = await subscriber(store, "ann@example.com", (news,))
    await store.add_subscriber(NewSubscriber("bob@example.com", "Bob", {}), [news], UNSUBSCRIBED)
    cid = await running_campaign(store, "news")
    [row] = [r for r in await store.claim_batch(cid, "me", 5, T0) if r.subscriber_id == ann]
    await record(store, row.ledger_id, DeliveryStatus.FAILED, "550 gone")
    await store.add_bounce(ann, cid, "hard", "smtp", "550 gone", T0)
    await store.mark_optin_sent(ann, T0)

    data = await store.personal_data(ann)
    assert data.subscriber.email == "ann@example.com"
    [sub] = data.subscriptions
    assert (sub.list_name, sub.status) == ("news", SubscriptionStatus.CONFIRMED)
    assert sub.created_at is not None and sub.updated_at is not None
    [entry] = data.deliveries
    assert (entry.campaign_id, entry.campaign_name, entry.status, entry.text) == (
        cid,
        "c",
        DeliveryStatus.FAILED,
        "550 gone",
    )
    [bounce] = data.bounces
    assert (bounce.campaign_id, bounce.kind, bounce.source, bounce.reason) == (
        cid,
        "hard",
        "smtp",
        "550 gone",
    )
    assert bounce.created_at == T0 and data.optin_sent_at == T0
    with pytest.raises(NotFound):
        await store.personal_data(9999)
