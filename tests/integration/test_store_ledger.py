"""The Store contract for the delivery ledger, on every store: eligibility, claims, outcomes."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from typing import Any

import pytest

from campaignd.domain import (
    CampaignCounts,
    CampaignStatus,
    DeliveryRecord,
    DeliveryStatus,
    SubscriberStatus,
    SubscriptionStatus,
    utcnow,
)
from campaignd.errors import NotFound
from tests.integration.store_fixtures import (
    campaign,
    double,
    single,
    store,
    store_url,
    subscriber,
)

__all__ = ["store", "store_url"]  # fixtures

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
S = SubscriptionStatus


async def emails(store: Any, campaign_id: int, limit: int = 1000, owner: str = "me") -> list[str]:
    return [r.email for r in await store.claim_batch(campaign_id, owner, limit, T0)]


def outcome(ledger_id: int, status: DeliveryStatus, **kw: Any) -> DeliveryRecord:
    base: dict[str, Any] = {
        "attempts": 1,
        "code": 250,
        "enhanced": "2.0.0",
        "text": "ok",
        "server": "smtp1",
        "message_id": f"<{ledger_id}@example.com>",
    }
    base.update(kw)
    return DeliveryRecord(ledger_id=ledger_id, status=status, **base)


async def test_eligibility_rule(store: Any) -> None:
    one, dbl = await single(store, "one"), await double(store, "dbl")
    await subscriber(store, "single-unconfirmed@x.org", (one,), S.UNCONFIRMED)
    await subscriber(store, "single-confirmed@x.org", (one,), S.CONFIRMED)
    gone = await subscriber(store, "single-unsubscribed@x.org", (one,), S.CONFIRMED)
    await store.unsubscribe(gone, None)
    await subscriber(store, "double-unconfirmed@x.org", (dbl,), S.UNCONFIRMED)
    await subscriber(store, "double-confirmed@x.org", (dbl,), S.CONFIRMED)
    await subscriber(store, "both-lists@x.org", (one, dbl), S.CONFIRMED)
    await subscriber(store, "disabled@x.org", (one,), S.CONFIRMED)
    await store.set_subscriber_status("disabled@x.org", SubscriberStatus.DISABLED)
    await subscriber(store, "blocklisted@x.org", (one,), S.CONFIRMED)
    await store.set_subscriber_status("blocklisted@x.org", SubscriberStatus.BLOCKLISTED)
    await subscriber(store, "no-list@x.org")
    cid = await campaign(store, "one", "dbl")

    assert await store.populate_ledger(cid, T0) == 4
    assert await store.populate_ledger(cid, T0) == 0  # idempotent
    assert await emails(store, cid) == [
        "single-unconfirmed@x.org",
        "single-confirmed@x.org",
        "double-confirmed@x.org",
        "both-lists@x.org",
    ]
    assert (await store.counts(cid)).to_send == 4


async def test_populate_adds_only_the_newly_eligible(store: Any) -> None:
    one = await single(store)
    await subscriber(store, "a@x.org", (one,))
    cid = await campaign(store, "single")
    assert await store.populate_ledger(cid, T0) == 1
    await subscriber(store, "b@x.org", (one,))
    assert await store.populate_ledger(cid, T0) == 1
    assert (await store.counts(cid)).pending == 2
    with pytest.raises(NotFound):
        await store.populate_ledger(cid + 1, T0)


async def test_populate_in_chunks_of_subscriber_ids_adds_the_same_rows(store: Any) -> None:
    one, two = await single(store, "one"), await single(store, "two")
    assert await store.last_subscriber_id() == 0
    ids = [
        await subscriber(store, f"u{i}@x.org", (one, two) if i % 2 else (one,)) for i in range(9)
    ]
    gone = await subscriber(store, "gone@x.org", (one,), S.CONFIRMED)
    await store.unsubscribe(gone, None)
    last = await store.last_subscriber_id()
    assert last == max(*ids, gone)
    cid = await campaign(store, "one", "two")

    edges = [0, ids[2], ids[2], ids[6], last]  # an empty chunk included
    added = [
        await store.populate_ledger(cid, T0, after=lo, upto=hi)
        for lo, hi in itertools.pairwise(edges)
    ]
    assert added == [3, 0, 4, 2]  # one row each, also for those on both lists
    assert await store.populate_ledger(cid, T0) == 0  # the chunks covered everyone
    assert await emails(store, cid) == [f"u{i}@x.org" for i in range(9)]


async def test_claims_come_in_id_order_and_only_once(store: Any) -> None:
    one = await single(store)
    for i in range(5):
        await subscriber(store, f"u{i}@x.org", (one,), name=f"U{i}")
    cid = await campaign(store, "single")
    await store.transition(cid, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=T0)
    await store.populate_ledger(cid, T0)

    first = await store.claim_batch(cid, "a", 2, T0)
    assert [r.email for r in first] == ["u0@x.org", "u1@x.org"]
    r = first[0]
    assert (r.campaign_id, r.name, r.attempts, dict(r.attributes)) == (
        cid,
        "U0",
        0,
        {"n": "u0@x.org"},
    )
    assert r.uuid == (await store.get_subscriber("u0@x.org")).uuid
    assert [x.email for x in await store.claim_batch(cid, "b", 10, T0)] == [
        "u2@x.org",
        "u3@x.org",
        "u4@x.org",
    ]
    assert await store.claim_batch(cid, "a", 10, T0) == []
    assert await store.claim_batch(cid, "a", 0, T0) == []
    assert await store.counts(cid) == CampaignCounts(to_send=5, claimed=5)


async def test_claim_skips_subscribers_no_longer_eligible(store: Any) -> None:
    one = await single(store)
    for name in ("keep", "unsub", "block", "disable"):
        await subscriber(store, f"{name}@x.org", (one,))
    cid = await campaign(store, "single")
    await store.populate_ledger(cid, T0)
    unsub = await store.get_subscriber("unsub@x.org")
    await store.unsubscribe(unsub.id, None)
    await store.set_subscriber_status("block@x.org", SubscriberStatus.BLOCKLISTED)
    await store.set_subscriber_status("disable@x.org", SubscriberStatus.DISABLED)

    assert await emails(store, cid, limit=4) == ["keep@x.org"]
    assert await store.counts(cid) == CampaignCounts(to_send=4, claimed=1, skipped=3)
    assert await emails(store, cid) == []  # skipped rows are never claimed again


async def test_record_outcomes_counts_failures_and_retries(store: Any) -> None:
    one = await single(store)
    for name in ("sent", "failed", "deferred", "unknown", "later"):
        await subscriber(store, f"{name}@x.org", (one,))
    cid = await campaign(store, "single")
    await store.populate_ledger(cid, T0)
    got = {r.email: r.ledger_id for r in await store.claim_batch(cid, "me", 4, T0)}
    retry = T0 + dt.timedelta(minutes=10)
    t1 = T0 + dt.timedelta(seconds=1)
    await store.record_deliveries(
        [
            outcome(got["sent@x.org"], DeliveryStatus.SENT),
            outcome(
                got["failed@x.org"],
                DeliveryStatus.FAILED,
                code=550,
                enhanced="5.1.1",
                text="no such user",
            ),
            outcome(
                got["deferred@x.org"],
                DeliveryStatus.DEFERRED,
                code=451,
                enhanced="4.3.0",
                text="try later",
                next_attempt_at=retry,
            ),
            outcome(
                got["unknown@x.org"],
                DeliveryStatus.UNKNOWN,
                code=None,
                enhanced=None,
                text="connection lost after DATA",
            ),
        ],
        t1,
    )
    assert await store.counts(cid) == CampaignCounts(
        to_send=5, pending=1, deferred=1, sent=1, failed=1, unknown=1
    )
    assert await store.next_retry_at(cid) == retry
    failures = await store.failures(cid)
    assert [(f.email, f.status, f.code, f.enhanced, f.text, f.server) for f in failures] == [
        ("deferred@x.org", DeliveryStatus.DEFERRED, 451, "4.3.0", "try later", "smtp1"),
        ("failed@x.org", DeliveryStatus.FAILED, 550, "5.1.1", "no such user", "smtp1"),
        (
            "unknown@x.org",
            DeliveryStatus.UNKNOWN,
            None,
            None,
            "connection lost after DATA",
            "smtp1",
        ),
    ]
    assert all(f.updated_at == t1 and f.attempts == 1 for f in failures)

    # Not yet due: only the pending row. Due: the deferred one too, with its attempts.
    assert await emails(store, cid) == ["later@x.org"]
    due = await store.claim_batch(cid, "me", 10, retry)
    assert [(r.email, r.attempts) for r in due] == [("deferred@x.org", 1)]
    assert await store.next_retry_at(cid) is None

    assert await store.reset_failed(cid) == 1
    again = await store.claim_batch(cid, "me", 10, retry)
    assert [(r.email, r.attempts) for r in again] == [("failed@x.org", 1)]


async def test_deferred_and_pending_rows_are_claimed_together_in_id_order(store: Any) -> None:
    one = await single(store)
    for i in range(4):
        await subscriber(store, f"u{i}@x.org", (one,))
    cid = await campaign(store, "single")
    await store.populate_ledger(cid, T0)
    first = await store.claim_batch(cid, "me", 2, T0)
    await store.record_deliveries(
        [outcome(r.ledger_id, DeliveryStatus.DEFERRED, next_attempt_at=T0) for r in first], T0
    )
    assert await emails(store, cid, limit=3) == ["u0@x.org", "u1@x.org", "u2@x.org"]


async def two_campaigns_of_six(store: Any) -> tuple[int, int]:
    """Two campaigns to the same six subscribers (u0-u5), their ledgers filled."""
    one = await single(store)
    for i in range(6):
        await subscriber(store, f"u{i}@x.org", (one,))
    c1 = await campaign(store, "single", name="c1")
    c2 = await campaign(store, "single", name="c2")
    for cid in (c1, c2):
        await store.populate_ledger(cid, T0)
    return c1, c2


# Claim ages are judged by the store's claim clock: PostgreSQL's own now(), the caller's `now`
# elsewhere. These tests use real time (a short lease and a sleep) so all three agree.
LEASE = dt.timedelta(minutes=10)
SHORT = dt.timedelta(seconds=0.3)


async def test_release_and_recover_claims(store: Any) -> None:
    c1, c2 = await two_campaigns_of_six(store)
    now = utcnow()
    await store.claim_batch(c1, "a", 2, now)
    await store.claim_batch(c2, "a", 2, now)
    await store.claim_batch(c1, "b", 2, now)
    await store.claim_batch(c2, "c", 2, now)

    assert await store.release_claims("a", c1) == 2
    assert await store.release_claims("a", c1) == 0
    assert (await store.counts(c1)).pending == 4
    assert await store.release_claims("a") == 2  # c2
    # After a restart of "b": b's own claims; c's are younger than the lease.
    assert await store.recover_claims("b", LEASE, utcnow()) == 2
    assert (await store.counts(c2)).claimed == 2
    await asyncio.sleep(SHORT.total_seconds() * 2)
    # ... and any claim older than the lease, whoever took it.
    assert await store.recover_claims("b", SHORT, utcnow()) == 2
    assert (await store.counts(c1)).claimed == 0
    assert (await store.counts(c2)).claimed == 0
    assert [r.email for r in await store.claim_batch(c1, "b", 10, utcnow())] == [
        f"u{i}@x.org" for i in range(6)
    ]


async def test_renewed_claims_are_not_taken_for_a_dead_owners(store: Any) -> None:
    c1, c2 = await two_campaigns_of_six(store)
    now = utcnow()
    await store.claim_batch(c1, "a", 2, now)
    await store.claim_batch(c2, "a", 2, now)
    await store.claim_batch(c1, "b", 2, now)
    await asyncio.sleep(SHORT.total_seconds() * 2)

    assert await store.renew_claims("a", c1, utcnow()) == 2  # only a's rows of c1
    # A daemon "c" starting now takes claims older than the lease: b's, and a's of c2.
    assert await store.recover_claims("c", SHORT, utcnow()) == 4
    assert (await store.counts(c1)).claimed == 2
    assert await store.release_claims("a", c1) == 2


async def test_stale_claims_of_one_campaign_are_recovered_whoever_took_them(store: Any) -> None:
    c1, c2 = await two_campaigns_of_six(store)
    await store.claim_batch(c1, "dead", 2, utcnow())
    await store.claim_batch(c1, "me", 1, utcnow())  # the caller's own: its runners renew them
    await store.claim_batch(c2, "dead", 2, utcnow())
    await asyncio.sleep(SHORT.total_seconds() * 2)
    await store.claim_batch(c1, "alive", 2, utcnow())

    assert await store.recover_stale_claims(c1, SHORT, "me", utcnow()) == 2
    counts = await store.counts(c1)
    assert counts.claimed == 3 and counts.pending == 3
    assert (await store.counts(c2)).claimed == 2  # another campaign: left alone
    assert await store.recover_stale_claims(c1, SHORT, "me", utcnow()) == 0
    # The rows put back are claimed again, in order.
    assert [r.email for r in await store.claim_batch(c1, "alive", 10, utcnow())] == [
        "u0@x.org",
        "u1@x.org",
        "u5@x.org",
    ]


async def test_every_status_lands_in_counts(store: Any) -> None:
    one = await single(store)
    await subscriber(store, "a@x.org", (one,))
    cid = await campaign(store, "single")
    assert await store.counts(cid) == CampaignCounts()
    assert await store.failures(cid) == []
    assert await store.next_retry_at(cid) is None
    await store.populate_ledger(cid, T0)
    counts = await store.counts(cid)
    assert (counts.to_send, counts.pending, counts.remaining) == (1, 1, 1)


# Concurrent claimers need two connections to one server: PostgreSQL (FOR UPDATE SKIP LOCKED).
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_two_claimers_never_get_the_same_row(store_url: str) -> None:
    from campaignd.domain import ImportOptions, NewSubscriber
    from campaignd.store.sql import SqlStore

    stores = [await SqlStore.open(store_url) for _ in range(3)]
    try:
        s0 = stores[0]
        lid = await single(s0)
        batch = [NewSubscriber(f"u{i}@x.org", "U") for i in range(3000)]
        await s0.import_batch(batch, ImportOptions(list_ids=(lid,)))
        cid = await campaign(s0, "single")
        assert await s0.populate_ledger(cid, T0) == 3000

        async def drain(s: SqlStore, owner: str) -> list[int]:
            got: list[int] = []
            while batch := await s.claim_batch(cid, owner, 50, T0):
                got += [r.ledger_id for r in batch]
            return got

        results = await asyncio.gather(*(drain(s, f"w{i}") for i, s in enumerate(stores)))
        everything = [x for r in results for x in r]
        assert len(everything) == len(set(everything)) == 3000
        assert all(results), "each claimer got some rows"
    finally:
        for s in stores:
            await s.close()
