"""The Store contract for tracking and statistics, on every store: batched hits, figures."""

from __future__ import annotations

import datetime as dt
from typing import Any

from campaignd.domain import (
    BounceCounts,
    DeliveryStatus,
    Hit,
    HitCount,
    HitKind,
    LedgerPoint,
    NewCampaign,
)
from tests.integration.store_fixtures import campaign, single, store, store_url, subscriber
from tests.integration.test_store_ledger import outcome

__all__ = ["store", "store_url"]  # fixtures

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SHOP = "https://shop.example/a?x=1&y=2"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def test_hits_are_counted_per_kind_machine_link_and_minute(store: Any) -> None:
    await single(store, "l")
    cid = await campaign(store, "l")
    other = await campaign(store, "l", name="other")
    await store.record_hits(
        [
            Hit(cid, HitKind.OPEN, at(1)),
            Hit(cid, HitKind.OPEN, at(59)),
            Hit(cid, HitKind.OPEN, at(2), machine=True),
            Hit(cid, HitKind.CLICK, at(3), url=SHOP),
            Hit(cid, HitKind.CLICK, at(61), url=SHOP),
            Hit(other, HitKind.OPEN, at(1)),
        ]
    )
    await store.record_hits([Hit(cid, HitKind.OPEN, at(30))])  # a later batch adds up
    await store.record_hits([])
    assert await store.hit_counts(cid) == [
        HitCount(HitKind.CLICK, False, SHOP, T0, 1),
        HitCount(HitKind.OPEN, False, "", T0, 3),
        HitCount(HitKind.OPEN, True, "", T0, 1),
        HitCount(HitKind.CLICK, False, SHOP, at(60), 1),
    ]
    assert await store.unique_hitters(cid) == {}  # anonymous: nobody is named


async def test_individual_hits_count_distinct_subscribers(store: Any) -> None:
    lid = await single(store, "l")
    cid = await campaign(store, "l")
    a, b = [await subscriber(store, f"{n}@example.com", (lid,)) for n in "ab"]
    await store.record_hits(
        [
            Hit(cid, HitKind.OPEN, at(1), subscriber_id=a),
            Hit(cid, HitKind.OPEN, at(2), subscriber_id=a),
            Hit(cid, HitKind.OPEN, at(3), subscriber_id=b),
            Hit(cid, HitKind.OPEN, at(4), machine=True, subscriber_id=b),
            Hit(cid, HitKind.CLICK, at(5), url=SHOP, subscriber_id=b),
        ]
    )
    assert await store.unique_hitters(cid) == {
        (HitKind.OPEN, False): 2,
        (HitKind.OPEN, True): 1,
        (HitKind.CLICK, False): 1,
    }
    counts = await store.hit_counts(cid)
    assert sum(c.hits for c in counts if c.kind is HitKind.OPEN and not c.machine) == 3


async def test_ledger_series_and_bounces(store: Any) -> None:
    lid = await single(store, "l")
    cid = await campaign(store, "l")
    sids = [await subscriber(store, f"s{i}@example.com", (lid,)) for i in range(4)]
    await store.populate_ledger(cid, T0)
    rows = await store.claim_batch(cid, "me", 10, T0)
    sent, failed = rows[0:2], rows[2:3]
    await store.record_deliveries([outcome(r.ledger_id, DeliveryStatus.SENT) for r in sent], at(5))
    await store.record_deliveries(
        [outcome(r.ledger_id, DeliveryStatus.FAILED, code=550) for r in failed], at(65)
    )
    assert await store.ledger_series(cid) == [
        LedgerPoint(T0, DeliveryStatus.SENT, 2),
        LedgerPoint(at(60), DeliveryStatus.FAILED, 1),
    ]
    await store.add_bounce(sids[2], cid, "hard", "smtp", "550 no such user", T0)
    await store.add_bounce(sids[3], cid, "complaint", "ses", "abuse", T0)
    await store.add_bounce(sids[3], None, "soft", "ses", "full", T0)
    assert await store.bounce_counts(cid) == BounceCounts(hard=1, soft=0, complaint=1)


async def test_campaigns_keep_what_they_track(store: Any) -> None:
    await single(store, "l")
    new = NewCampaign(
        name="t", subject="s", from_email="me@example.com", body="b", lists=("l",),
        track=("opens", "clicks"),
    )  # fmt: skip
    created = await store.create_campaign(new, None)
    assert created.track == ("opens", "clicks")
    assert (await store.get_campaign(created.id)).track == ("opens", "clicks")
    assert (await store.get_campaign(await campaign(store, "l", name="u"))).track == ()


async def test_a_large_batch_of_distinct_counts_is_written(store: Any) -> None:
    await single(store, "l")
    cid = await campaign(store, "l")
    hits = [Hit(cid, HitKind.CLICK, at(i * 60), url=f"{SHOP}&n={i % 7}") for i in range(2500)]
    await store.record_hits(hits)
    await store.record_hits(hits[:10])
    counts = await store.hit_counts(cid)
    assert len(counts) == 2500 and sum(c.hits for c in counts) == 2510
