"""Campaign statistics on the in-memory store: counts, rates, links, buckets, privacy modes."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from pydantic import SecretStr

from campaignd.campaigns.hits import HitRecorder
from campaignd.campaigns.stats import campaign_stats
from campaignd.config import SecuritySettings, Settings
from campaignd.domain import (
    CampaignStatus,
    DeliveryRecord,
    DeliveryStatus,
    Hit,
    HitKind,
    NewCampaign,
    NewSubscriber,
    OptIn,
    SubscriptionStatus,
    TrackingMode,
)
from campaignd.errors import NotFound
from campaignd.http.app import create_app
from campaignd.rendering.tokens import sign
from campaignd.store.memory import MemoryStore

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SHOP, BLOG = "https://shop.example/", "https://blog.example/"
SECRET = "s3cret-for-tests-only-0123456789"


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def record(ledger_id: int, status: DeliveryStatus) -> DeliveryRecord:
    return DeliveryRecord(ledger_id, status, 1, 250, None, "ok", "s", f"<{ledger_id}@x>")


async def sent_campaign(store: MemoryStore) -> tuple[int, list[int]]:
    lid = (await store.create_list("news", OptIn.SINGLE, "")).id
    sids = []
    for i in range(4):
        sub = await store.add_subscriber(
            NewSubscriber(f"s{i}@example.com", "S"), (lid,), SubscriptionStatus.CONFIRMED
        )
        sids.append(sub.id)
    new = NewCampaign("c", "s", "a@example.com", "b", ("news",), track=("opens", "clicks"))
    cid = (await store.create_campaign(new, None)).id
    await store.transition(cid, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=T0)
    await store.populate_ledger(cid, T0)
    rows = await store.claim_batch(cid, "me", 10, T0)
    statuses = [DeliveryStatus.SENT] * 3 + [DeliveryStatus.FAILED]
    await store.record_deliveries(
        [record(r.ledger_id, s) for r, s in zip(rows, statuses, strict=True)], at(1)
    )
    return cid, sids


async def test_stats_in_individual_mode() -> None:
    store = MemoryStore()
    cid, sids = await sent_campaign(store)
    await store.record_hits(
        [
            Hit(cid, HitKind.OPEN, at(2), subscriber_id=sids[0]),
            Hit(cid, HitKind.OPEN, at(2.5), subscriber_id=sids[0]),
            Hit(cid, HitKind.OPEN, at(3), subscriber_id=sids[1]),
            Hit(cid, HitKind.OPEN, at(1), machine=True, subscriber_id=sids[2]),
            Hit(cid, HitKind.CLICK, at(3), url=SHOP, subscriber_id=sids[0]),
            Hit(cid, HitKind.CLICK, at(3), url=BLOG, subscriber_id=sids[1]),
            Hit(cid, HitKind.CLICK, at(4), url=BLOG, subscriber_id=sids[1]),
            Hit(cid, HitKind.CLICK, at(1), url=SHOP, machine=True, subscriber_id=sids[2]),
            Hit(cid, HitKind.UNSUBSCRIBE, at(5)),
        ]
    )
    await store.add_bounce(sids[3], cid, "hard", "smtp", "550", T0)
    s = await campaign_stats(store, cid, TrackingMode.INDIVIDUAL, at(10))
    assert (s.sent, s.failed, s.to_send, s.bounced_hard, s.unsubscribes) == (3, 1, 4, 1, 1)
    assert (s.opens, s.machine_opens, s.unique_opens, s.unique_machine_opens) == (3, 1, 2, 1)
    assert s.open_rate == round(2 / 3, 4)
    assert (s.clicks, s.machine_clicks, s.unique_clicks, s.click_rate) == (3, 1, 2, round(2 / 3, 4))
    assert [(x.url, x.clicks, x.machine_clicks) for x in s.links] == [(BLOG, 2, 0), (SHOP, 1, 1)]
    assert s.bucket == "minute"
    first = s.series[0]
    assert (first.at, first.sent, first.failed, first.machine_opens) == (at(1).isoformat(), 3, 1, 1)
    assert sum(p.opens for p in s.series) == 3 and len(s.series) == 5
    assert (s.series[-1].at, s.series[-1].unsubscribes) == (at(5).isoformat(), 1)
    assert s.as_dict()["links"][0] == {"url": BLOG, "clicks": 2, "machine_clicks": 0}


async def test_anonymous_mode_has_no_unique_counts_and_finished_campaigns_go_hourly() -> None:
    store = MemoryStore()
    cid, _ = await sent_campaign(store)
    await store.transition(
        cid, frozenset({CampaignStatus.RUNNING}), CampaignStatus.FINISHED, now=at(2)
    )
    await store.record_hits([Hit(cid, HitKind.OPEN, at(m)) for m in (2, 30, 70)])
    s = await campaign_stats(store, cid, TrackingMode.ANONYMOUS, at(60 * 24))
    assert (s.opens, s.unique_opens, s.open_rate, s.click_rate) == (3, None, None, None)
    assert s.bucket == "hour"
    assert [(p.at, p.sent, p.opens) for p in s.series] == [
        (T0.isoformat(), 3, 2),
        (at(60).isoformat(), 0, 1),
    ]
    recent = await campaign_stats(store, cid, TrackingMode.ANONYMOUS, at(90))
    assert recent.bucket == "minute"  # an hour after the last hit: still per minute


async def test_unknown_campaign() -> None:
    with pytest.raises(NotFound):
        await campaign_stats(MemoryStore(), 9, TrackingMode.ANONYMOUS, T0)


async def test_an_unsubscribe_through_a_campaign_link_is_counted_once() -> None:
    store = MemoryStore()
    cid, _ = await sent_campaign(store)
    campaign = await store.get_campaign(cid)
    sub = await store.get_subscriber("s0@example.com")
    settings = Settings(security=SecuritySettings(secret=SecretStr(SECRET)))
    hits = HitRecorder(store, settings.tracking)
    app = create_app(store, settings, clock=lambda: T0, hits=hits)
    path = f"/unsubscribe/{sign(SECRET, 'unsub', sub.uuid, campaign.uuid)}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://n.example"
    ) as client:
        for _ in range(2):  # the second changes nothing and is not counted
            r = await client.post(path, data={"List-Unsubscribe": "One-Click"})
            assert r.status_code == 200
    await hits.flush()
    assert (await campaign_stats(store, cid, TrackingMode.OFF, T0)).unsubscribes == 1
