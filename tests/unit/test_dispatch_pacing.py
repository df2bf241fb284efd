"""[[domain_limits]] in the engine, on the in-memory twins: no head-of-line blocking, the limits
hold across campaigns, a "too fast" reply pauses only its group and fails nobody."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

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
    SubscriptionStatus,
    utcnow,
)
from campaignd.messengers.protocol import Sign
from campaignd.messengers.recording import RecordingMessenger
from campaignd.store.memory import MemoryStore

SLOW = "slow.example"


class DomainSink(RecordingMessenger):
    """Records when each send starts and ends; sends to `slow` take `slow_s`, and the first
    `throttle` of them are answered 451 4.7.28 ("too fast")."""

    def __init__(self, slow_s: float = 0.0, throttle: int = 0) -> None:
        super().__init__()
        self.slow_s = slow_s
        self.throttle = throttle
        self.started: list[tuple[float, str]] = []
        self.ended: list[tuple[float, str, int | None]] = []
        self.slow_in_flight = 0
        self.slow_peak = 0

    async def send(
        self, sender: str, recipients: Sequence[str], message: bytes, sign: Sign | None = None
    ) -> SendOutcome:
        rcpt = recipients[0]
        slow = rcpt.endswith("@" + SLOW)
        self.started.append((time.monotonic(), rcpt))
        outcome = SendOutcome(OutcomeKind.SENT, code=250, text="ok")
        if slow:
            self.slow_in_flight += 1
            self.slow_peak = max(self.slow_peak, self.slow_in_flight)
            try:
                await asyncio.sleep(self.slow_s)
            finally:
                self.slow_in_flight -= 1
            if self.throttle:
                self.throttle -= 1
                outcome = SendOutcome(
                    OutcomeKind.TRANSIENT,
                    code=451,
                    enhanced="4.7.28",
                    text="4.7.28 Our system has detected an unusual rate of mail, slow down",
                )
        self.script([outcome])
        result = await super().send(sender, recipients, message, sign)
        self.ended.append((time.monotonic(), rcpt, result.code))
        return result


def settings(limit: dict[str, Any], **app: Any) -> Settings:
    base: dict[str, Any] = {
        "message_rate": 0,
        "poll_interval": 0.02,
        "retry_backoff": 0.01,
        "concurrency": 5,
        "batch_size": 10,
    }
    base.update(app)
    return Settings(
        app=AppSettings(**base),
        security=SecuritySettings(secret=SecretStr("s" * 32)),
        domain_limits=({"domains": [SLOW, "slow2.example"], **limit},),
    )


async def campaign(store: MemoryStore, name: str, emails: Sequence[str]) -> int:
    news = await store.create_list(name, OptIn.SINGLE, "")
    for address in emails:
        await store.add_subscriber(
            NewSubscriber(address, ""), [news.id], SubscriptionStatus.CONFIRMED
        )
    created = await store.create_campaign(
        NewCampaign(name=name, subject="Hi", from_email="n@example.com", body="b", lists=(name,)),
        None,
    )
    await store.transition(
        created.id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=utcnow()
    )
    return created.id


def mixed(tag: str, slow: int, fast: int) -> list[str]:
    """Slow-domain recipients first, so a runner that waited for them would block the rest."""
    return [f"{tag}{i}@{SLOW}" for i in range(slow)] + [
        f"{tag}{i}@fast{i % 3}.example" for i in range(fast)
    ]


async def run(store: MemoryStore, sink: DomainSink, config: Settings) -> None:
    daemon = Daemon(config, until_idle=True, store=store, messengers=lambda _s: {"email": sink})
    assert await daemon.run() == 0


async def test_a_saturated_domain_does_not_hold_up_the_others() -> None:
    store, sink = MemoryStore(), DomainSink(slow_s=0.2)
    emails = mixed("u", 5, 40)
    campaign_id = await campaign(store, "news", emails)
    await run(store, sink, settings({"max_in_flight": 1}))

    assert Counter(r for s in sink.sent for r in s.recipients) == Counter(emails)
    assert sink.slow_peak == 1
    slow_done = [t for t, r, _ in sink.ended if r.endswith("@" + SLOW)]
    fast_done = [t for t, r, _ in sink.ended if not r.endswith("@" + SLOW)]
    # Every other domain's message was sent while the slow domain still had four to go.
    assert max(fast_done) < sorted(slow_done)[1]
    counts = await store.counts(campaign_id)
    assert (counts.sent, counts.remaining) == (45, 0)
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED


async def test_the_rate_holds_across_campaigns_and_the_rest_runs_at_full_speed() -> None:
    store, sink = MemoryStore(), DomainSink()
    first = mixed("a", 8, 30)
    second = [e.replace(SLOW, "slow2.example") for e in mixed("b", 8, 30)]
    ids = [await campaign(store, "one", first), await campaign(store, "two", second)]
    await run(store, sink, settings({"max_rate": 20.0}))

    assert Counter(r for s in sink.sent for r in s.recipients) == Counter(first + second)
    slow = sorted(t for t, r in sink.started if "@slow" in r)
    # 16 messages to the group at 20/s: at least 15 intervals of 50 ms (less the 1% burst).
    assert slow[-1] - slow[0] >= 15 / 20 * 0.98
    fast = [t for t, r, _ in sink.ended if "@fast" in r]
    assert max(fast) < slow[2]  # the other domains did not wait for the group
    for campaign_id in ids:
        assert (await store.counts(campaign_id)).remaining == 0


async def test_too_fast_pauses_the_group_and_the_recipient_is_deferred_not_failed() -> None:
    store, sink = MemoryStore(), DomainSink(throttle=2)
    emails = mixed("u", 6, 20)
    campaign_id = await campaign(store, "news", emails)
    # max_send_errors=1: a "too fast" counted as a send error would pause the campaign.
    config = settings(
        {"max_in_flight": 2, "backoff": "200ms", "max_backoff": "1s"}, max_send_errors=1
    )
    await run(store, sink, config)

    assert Counter(r for s in sink.sent for r in s.recipients) == Counter(emails)
    throttled = [(t, r) for t, r, code in sink.ended if code == 451]
    assert len(throttled) == 2
    # Nothing more was sent to the group until its back-off had passed.
    first_throttle = throttled[0][0]
    later_slow = [t for t, r in sink.started if r.endswith("@" + SLOW) and t > first_throttle]
    assert later_slow and min(later_slow) - first_throttle >= 0.2 * 0.95
    counts = await store.counts(campaign_id)
    assert (counts.sent, counts.failed, counts.remaining) == (26, 0, 0)
    # Each recipient used one attempt: the "too fast" replies used none.
    assert [row.attempts for row in store._ledger.values()] == [1] * 26
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED
