"""The sending engine end to end on the in-memory twins: store and recording messenger."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from campaignd.config import AppSettings, SecuritySettings, Settings
from campaignd.daemon.service import Daemon
from campaignd.domain import (
    CampaignStatus,
    NewCampaign,
    NewSubscriber,
    OptIn,
    OutcomeKind,
    SendOutcome,
    SubscriberStatus,
    SubscriptionStatus,
    utcnow,
)
from campaignd.messengers.recording import RecordingMessenger
from campaignd.store.memory import MemoryStore

ELIGIBLE_EXTRA = {"both@example.com"}


def settings(**app: Any) -> Settings:
    base: dict[str, Any] = {
        "message_rate": 0,
        "poll_interval": 0.02,
        "retry_backoff": 0.01,
        "concurrency": 5,
        "batch_size": 7,
    }
    base.update(app)
    return Settings(app=AppSettings(**base), security=SecuritySettings(secret=SecretStr("s" * 32)))


async def seed(store: MemoryStore, n: int = 20) -> int:
    news = await store.create_list("news", OptIn.SINGLE, "")
    vip = await store.create_list("vip", OptIn.DOUBLE, "")
    unconfirmed = SubscriptionStatus.UNCONFIRMED
    confirmed = SubscriptionStatus.CONFIRMED
    for i in range(n):
        await store.add_subscriber(
            NewSubscriber(f"user{i}@example.com", f"User {i}", {"city": "Oslo"}),
            [news.id],
            unconfirmed,
        )
    await store.add_subscriber(NewSubscriber("blocked@example.com", "B"), [news.id], confirmed)
    await store.set_subscriber_status("blocked@example.com", SubscriberStatus.BLOCKLISTED)
    gone = await store.add_subscriber(NewSubscriber("gone@example.com", "G"), [news.id], confirmed)
    await store.unsubscribe(gone.id, None)
    await store.add_subscriber(NewSubscriber("unconf@example.com", "U"), [vip.id], unconfirmed)
    await store.add_subscriber(
        NewSubscriber("both@example.com", "Bo"), [news.id, vip.id], confirmed
    )
    campaign = await store.create_campaign(
        NewCampaign(
            name="November",
            subject="Hi {{ subscriber.name }}",
            from_email="News <news@example.com>",
            body="<p>Hello from {{ subscriber.attributes.city | default('nowhere') }}</p>",
            lists=("news", "vip"),
        ),
        None,
    )
    return campaign.id


def eligible(n: int = 20) -> set[str]:
    return {f"user{i}@example.com" for i in range(n)} | ELIGIBLE_EXTRA


async def start(store: MemoryStore, campaign_id: int) -> None:
    await store.transition(
        campaign_id,
        frozenset({CampaignStatus.DRAFT}),
        CampaignStatus.RUNNING,
        now=utcnow(),
    )


def daemon(store: MemoryStore, messenger: RecordingMessenger, **app: Any) -> Daemon:
    return Daemon(
        settings(**app),
        until_idle=True,
        store=store,
        messengers=lambda _s: {"email": messenger},
    )


def delivered(messenger: RecordingMessenger) -> Counter[str]:
    return Counter(r for s in messenger.sent for r in s.recipients)


async def test_sends_exactly_one_personalised_message_per_eligible_subscriber() -> None:
    store, messenger = MemoryStore(), RecordingMessenger()
    campaign_id = await seed(store)
    await start(store, campaign_id)
    assert await daemon(store, messenger).run() == 0

    got = delivered(messenger)
    assert set(got) == eligible()
    assert max(got.values()) == 1
    msg = next(
        email.message_from_bytes(s.message, policy=email.policy.default)
        for s in messenger.sent
        if s.recipients == ("user3@example.com",)
    )
    assert msg["Subject"] == "Hi User 3"
    assert "Oslo" in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert msg["List-Unsubscribe"].startswith("<http://localhost:9000/unsubscribe/")

    campaign = await store.get_campaign(campaign_id)
    counts = await store.counts(campaign_id)
    assert campaign.status is CampaignStatus.FINISHED
    assert (counts.to_send, counts.sent, counts.remaining) == (21, 21, 0)


def failing_first(outcome: SendOutcome, who: set[str]) -> Callable[..., SendOutcome]:
    seen: set[str] = set()

    def answer(_sender: str, recipients: Sequence[str], _msg: bytes) -> SendOutcome:
        rcpt = recipients[0]
        if rcpt in who and rcpt not in seen:
            seen.add(rcpt)
            return outcome
        return SendOutcome(OutcomeKind.SENT, code=250, text="ok")

    return answer


async def test_transient_failures_are_retried_and_delivered_once() -> None:
    store = MemoryStore()
    flaky = {"user1@example.com", "user5@example.com", "both@example.com"}
    messenger = RecordingMessenger(
        answer=failing_first(
            SendOutcome(OutcomeKind.TRANSIENT, code=451, text="4.3.0 later"), flaky
        )
    )
    campaign_id = await seed(store)
    await start(store, campaign_id)
    await daemon(store, messenger).run()

    got = delivered(messenger)
    assert set(got) == eligible() and max(got.values()) == 1
    calls = Counter(r for s in messenger.calls for r in s.recipients)
    assert all(calls[a] == 2 for a in flaky)
    counts = await store.counts(campaign_id)
    assert counts.sent == 21 and counts.failed == 0


async def test_permanent_and_unknown_are_final_and_not_resent() -> None:
    store = MemoryStore()
    outcomes = {
        "user2@example.com": SendOutcome(OutcomeKind.PERMANENT, code=550, text="5.1.1 no user"),
        "user4@example.com": SendOutcome(OutcomeKind.UNKNOWN, text="no reply after final dot"),
    }

    def answer(_s: str, rcpts: Sequence[str], _m: bytes) -> SendOutcome:
        return outcomes.get(rcpts[0], SendOutcome(OutcomeKind.SENT, code=250))

    messenger = RecordingMessenger(answer=answer)
    campaign_id = await seed(store)
    await start(store, campaign_id)
    await daemon(store, messenger).run()

    calls = Counter(r for s in messenger.calls for r in s.recipients)
    assert calls["user2@example.com"] == 1 and calls["user4@example.com"] == 1
    counts = await store.counts(campaign_id)
    assert (counts.sent, counts.failed, counts.unknown) == (19, 1, 1)
    failures = {f.email: f for f in await store.failures(campaign_id)}
    assert failures["user2@example.com"].code == 550
    assert "5.1.1" in failures["user2@example.com"].text
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED


async def test_authentication_failure_pauses_at_once() -> None:
    store = MemoryStore()
    messenger = RecordingMessenger(
        answer=lambda *_: SendOutcome(
            OutcomeKind.PERMANENT,
            code=535,
            text="5.7.8 authentication failed",
            connection_error=True,
            auth_failed=True,
        )
    )
    campaign_id = await seed(store, n=200)
    await start(store, campaign_id)
    await daemon(store, messenger, concurrency=2).run()

    campaign = await store.get_campaign(campaign_id)
    assert campaign.status is CampaignStatus.PAUSED
    assert campaign.pause_reason and "authentication failed" in campaign.pause_reason
    assert len(messenger.calls) <= 10  # stopped at once, not after 200 failures


async def test_max_send_errors_pauses_then_resume_completes_without_duplicates() -> None:
    store = MemoryStore()
    down = True

    def answer(_s: str, _r: Sequence[str], _m: bytes) -> SendOutcome:
        if down:
            return SendOutcome(OutcomeKind.TRANSIENT, text="refused", connection_error=True)
        return SendOutcome(OutcomeKind.SENT, code=250)

    messenger = RecordingMessenger(answer=answer)
    campaign_id = await seed(store)
    await start(store, campaign_id)
    await daemon(store, messenger, max_send_errors=5).run()
    campaign = await store.get_campaign(campaign_id)
    assert campaign.status is CampaignStatus.PAUSED
    assert campaign.pause_reason and "send errors" in campaign.pause_reason

    down = False
    messenger.closed = False  # the first daemon closed it on exit
    await store.transition(
        campaign_id, frozenset({CampaignStatus.PAUSED}), CampaignStatus.RUNNING, now=utcnow()
    )
    await daemon(store, messenger, max_send_errors=5).run()
    got = delivered(messenger)
    assert set(got) == eligible() and max(got.values()) == 1
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED


async def test_graceful_stop_then_restart_sends_no_duplicate() -> None:
    store = MemoryStore()
    messenger = RecordingMessenger(delay=0.005)
    campaign_id = await seed(store, n=300)
    await start(store, campaign_id)
    first = daemon(store, messenger, message_rate=400)
    task = asyncio.create_task(first.run())
    while len(messenger.sent) < 40:
        await asyncio.sleep(0.01)
    first.stopping.set()
    assert await task == 0
    sent_before = len(messenger.sent)
    assert sent_before < 301
    counts = await store.counts(campaign_id)
    assert counts.sent == sent_before and counts.claimed == 0  # ledger matches, claims released

    messenger.closed = False
    await daemon(store, messenger).run()
    got = delivered(messenger)
    assert len(got) == 301 and max(got.values()) == 1


async def test_message_rate_is_never_exceeded() -> None:
    store, messenger = MemoryStore(), RecordingMessenger()
    campaign_id = await seed(store, n=59)  # 60 eligible
    await start(store, campaign_id)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await daemon(store, messenger, message_rate=100).run()
    elapsed = loop.time() - t0
    assert len(messenger.sent) == 60
    # 60 sends at 100/s: 2 at once (the limiter's burst, 1 + 100/100), then 58 intervals.
    assert elapsed >= 58 / 100 - 0.01


async def test_concurrency_bounds_messages_in_flight() -> None:
    store, messenger = MemoryStore(), RecordingMessenger(delay=0.01)
    campaign_id = await seed(store, n=60)
    await start(store, campaign_id)
    await daemon(store, messenger, concurrency=4).run()
    assert messenger.peak_in_flight <= 4
    assert len(delivered(messenger)) == 61


async def test_scheduled_campaign_starts_within_a_second() -> None:
    store, messenger = MemoryStore(), RecordingMessenger()
    campaign_id = await seed(store)
    send_at = utcnow() + dt.timedelta(seconds=0.5)
    await store.transition(
        campaign_id,
        frozenset({CampaignStatus.DRAFT}),
        CampaignStatus.SCHEDULED,
        now=utcnow(),
        send_at=send_at,
    )
    d = Daemon(settings(poll_interval=0.2), store=store, messengers=lambda _s: {"email": messenger})
    task = asyncio.create_task(d.run())
    for _ in range(300):
        if (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED:
            break
        await asyncio.sleep(0.02)
    d.stopping.set()
    await task
    campaign = await store.get_campaign(campaign_id)
    assert campaign.status is CampaignStatus.FINISHED
    assert campaign.started_at is not None
    assert dt.timedelta(0) <= campaign.started_at - send_at < dt.timedelta(seconds=1)


async def test_overdue_schedule_beyond_max_lag_stays_scheduled() -> None:
    store, messenger = MemoryStore(), RecordingMessenger()
    campaign_id = await seed(store)
    await store.transition(
        campaign_id,
        frozenset({CampaignStatus.DRAFT}),
        CampaignStatus.SCHEDULED,
        now=utcnow(),
        send_at=utcnow() - dt.timedelta(hours=2),
    )
    await daemon(store, messenger, schedule_max_lag=3600).run()
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.SCHEDULED
    assert messenger.calls == []


async def test_unsubscribe_during_campaign_is_honoured() -> None:
    store = MemoryStore()
    campaign_id = await seed(store, n=100)
    target = "user90@example.com"

    def answer(_s: str, rcpts: Sequence[str], _m: bytes) -> SendOutcome:
        return SendOutcome(OutcomeKind.SENT, code=250)

    messenger = RecordingMessenger(answer=answer, delay=0.002)
    await start(store, campaign_id)
    d = daemon(store, messenger, batch_size=5, concurrency=2)
    task = asyncio.create_task(d.run())
    while len(messenger.sent) < 5:
        await asyncio.sleep(0.005)
    sub = await store.get_subscriber(target)
    await store.unsubscribe(sub.id, None)
    await task
    assert target not in delivered(messenger)
    assert (await store.counts(campaign_id)).skipped >= 1


@pytest.mark.parametrize("content_type", ["markdown", "plain"])
async def test_content_types_render(content_type: str) -> None:
    store, messenger = MemoryStore(), RecordingMessenger()
    await store.create_list("news", OptIn.SINGLE, "")
    news = await store.get_list("news")
    await store.add_subscriber(
        NewSubscriber("a@example.com", "Ann"), [news.id], SubscriptionStatus.CONFIRMED
    )
    from campaignd.domain import ContentType

    campaign = await store.create_campaign(
        NewCampaign(
            name="md",
            subject="S",
            from_email="news@example.com",
            body="# Title for {{ subscriber.name }}\n\nSome *text*.",
            lists=("news",),
            content_type=ContentType(content_type),
        ),
        None,
    )
    await start(store, campaign.id)
    await daemon(store, messenger).run()
    msg = email.message_from_bytes(messenger.sent[0].message, policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Title for Ann" in text
    if content_type == "markdown":
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "<h1>Title for Ann</h1>" in html
    else:
        assert msg.get_body(("html",)) is None


async def test_running_campaigns_share_capacity_fairly() -> None:
    store = MemoryStore()
    messenger = RecordingMessenger(delay=0.002)
    first = await seed(store, n=100)
    second = await store.create_campaign(
        NewCampaign(
            name="Second",
            subject="Second",
            from_email="news@example.com",
            body="<p>two</p>",
            lists=("news",),
        ),
        None,
    )
    await start(store, first)
    await start(store, second.id)
    await daemon(store, messenger, concurrency=4, batch_size=10).run()

    subjects = ["Second" if b"Subject: Second" in s.message else "First" for s in messenger.calls]
    assert subjects.count("First") == 101 and subjects.count("Second") == 101
    early = Counter(subjects[:60])
    assert early["First"] >= 20 and early["Second"] >= 20  # interleaved, not one after the other


def test_tally_counts_recipients_not_retries() -> None:
    from campaignd.domain import DeliveryRecord, DeliveryStatus, Tally

    def record(ledger_id: int, status: DeliveryStatus) -> DeliveryRecord:
        return DeliveryRecord(ledger_id, status, 0, None, None, "", None, "")

    tally = Tally()
    for _ in range(10):  # 20 recipients, each deferred 10 times
        tally.add([record(i, DeliveryStatus.DEFERRED) for i in range(20)])
    assert tally.deferred == 20
    tally.add([record(0, DeliveryStatus.SENT), record(1, DeliveryStatus.FAILED)])
    assert (tally.sent, tally.failed, tally.deferred) == (1, 1, 18)


async def test_all_servers_unreachable_pauses_within_the_bound_and_loses_nobody() -> None:
    store = MemoryStore()
    down = True

    def answer(_s: str, _r: Sequence[str], _m: bytes) -> SendOutcome:
        if down:
            return SendOutcome(
                OutcomeKind.TRANSIENT,
                text="no server of messenger email is available (h:25: connection refused)",
                connection_error=True,
            )
        return SendOutcome(OutcomeKind.SENT, code=250)

    messenger = RecordingMessenger(answer=answer)
    campaign_id = await seed(store)
    await start(store, campaign_id)
    now = [utcnow()]

    def clock() -> dt.datetime:  # time runs 0.5 s per look: retries (every 5 s) come quickly
        now[0] += dt.timedelta(seconds=0.5)
        return now[0]

    d = Daemon(
        settings(max_send_errors=0, pause_after_unreachable="2m"),
        until_idle=True,
        store=store,
        messengers=lambda _s: {"email": messenger},
        clock=clock,
    )
    began = now[0]
    assert await asyncio.wait_for(d.run(), 30) == 0

    campaign = await store.get_campaign(campaign_id)
    assert campaign.status is CampaignStatus.PAUSED
    assert campaign.pause_reason is not None
    assert campaign.pause_reason.startswith("all SMTP servers of messenger email unreachable since")
    assert "connection refused" in campaign.pause_reason
    assert campaign.updated_at - began < dt.timedelta(minutes=2, seconds=15)
    counts = await store.counts(campaign_id)
    assert counts.failed == 0 and counts.sent == 0
    assert counts.deferred + counts.pending == counts.to_send == 21
    assert len(messenger.calls) > 21  # retried meanwhile, but counted once per recipient

    # Nothing lost: resumed with a server back, everyone gets it once.
    down = False
    messenger.closed = False
    await store.transition(
        campaign_id, frozenset({CampaignStatus.PAUSED}), CampaignStatus.RUNNING, now=now[0]
    )
    again = Daemon(
        settings(),
        until_idle=True,
        store=store,
        messengers=lambda _s: {"email": messenger},
        clock=clock,
    )
    assert await asyncio.wait_for(again.run(), 30) == 0
    got = delivered(messenger)
    assert set(got) == eligible() and max(got.values()) == 1


async def test_a_template_failing_everyone_pauses_the_campaign_and_leaves_the_rest_pending() -> (
    None
):
    store, messenger = MemoryStore(), RecordingMessenger()
    await seed(store, n=40)
    bomb = await store.create_campaign(
        NewCampaign(
            name="bomb",
            subject="Hi",
            from_email="News <news@example.com>",
            body="{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            lists=("news",),
        ),
        None,
    )
    await start(store, bomb.id)
    await daemon(store, messenger, concurrency=2, template_timeout=0.3).run()

    campaign = await store.get_campaign(bomb.id)
    assert campaign.status is CampaignStatus.PAUSED
    assert campaign.pause_reason is not None
    assert "5 messages in a row could not be built (max_render_failures=5)" in (
        campaign.pause_reason
    )
    assert "longer than 0.3s" in campaign.pause_reason
    counts = await store.counts(bomb.id)
    assert 5 <= counts.failed <= 5 + 2  # the failures in a row, and those already in flight
    assert counts.pending == counts.to_send - counts.failed  # the rest wait for a resume
    assert not messenger.sent
