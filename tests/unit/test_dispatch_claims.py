"""Claims of a campaign runner: the next batch is claimed while the current one is sent; a claim
still running when the runner stops is waited for, so its rows are released with the rest;
claims that wait long are renewed, so a daemon starting meanwhile does not send them again; and
a running daemon takes back the claims of one that died, once they are older than the lease."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence

import pytest

from campaignd.config import AppSettings
from campaignd.daemon.service import Daemon
from campaignd.domain import CampaignStatus, Recipient, SendOutcome
from campaignd.messengers.protocol import Sign
from campaignd.messengers.recording import RecordingMessenger
from campaignd.sending import claims
from campaignd.sending.claims import CLAIM_LEASE
from campaignd.sending.engine import Engine
from campaignd.store.memory import MemoryStore
from tests.unit.test_dispatch import daemon, delivered, eligible, seed, settings, start

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


class CountingStore(MemoryStore):
    """Counts claims; with `hold_after` set, claims after that many wait for `gate`."""

    def __init__(self, hold_after: int | None = None) -> None:
        super().__init__()
        self.claims = 0
        self.hold_after = hold_after
        self.gate = asyncio.Event()
        self.holding = asyncio.Event()

    async def claim_batch(
        self, campaign_id: int, owner: str, limit: int, now: dt.datetime
    ) -> list[Recipient]:
        self.claims += 1
        if self.hold_after is not None and self.claims > self.hold_after:
            self.holding.set()
            await self.gate.wait()
        return await super().claim_batch(campaign_id, owner, limit, now)


class GatedMessenger(RecordingMessenger):
    """Every send waits for `gate`."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def send(
        self, sender: str, recipients: Sequence[str], message: bytes, sign: Sign | None = None
    ) -> SendOutcome:
        self.in_flight += 1
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        return await super().send(sender, recipients, message, sign)


@pytest.fixture
def fast_renewal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Claims renewed, and stale ones looked for, every 50 ms instead of every minute."""
    monkeypatch.setattr(claims, "CLAIM_RENEW_S", 0.05)


async def running_campaign(store: MemoryStore) -> int:
    """The seeded campaign (31 eligible), running."""
    campaign_id = await seed(store, n=30)
    await start(store, campaign_id)
    return campaign_id


def assert_sent_once_to_everyone(messenger: RecordingMessenger) -> None:
    got = delivered(messenger)
    assert set(got) == eligible(30) and max(got.values()) == 1


def clocked_daemon(
    store: MemoryStore, messenger: RecordingMessenger, now: list[dt.datetime]
) -> Daemon:
    """A daemon (5 slots, 7 rows a claim) whose clock reads `now[0]`."""
    return Daemon(
        settings(concurrency=5, batch_size=7),
        until_idle=True,
        store=store,
        messengers=lambda _s: {"email": messenger},
        clock=lambda: now[0],
    )


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_the_next_batch_is_claimed_while_this_one_waits_for_slots() -> None:
    store, messenger = CountingStore(), GatedMessenger()
    campaign_id = await running_campaign(store)
    # 5 slots, 7 rows a claim, every send held: the runner is stuck on its sixth row.
    task = asyncio.create_task(daemon(store, messenger, concurrency=5, batch_size=7).run())
    await wait_for(lambda: messenger.in_flight == 5, "five sends in flight")
    await asyncio.sleep(0.05)
    assert store.claims == 2  # the first batch, and the next one claimed ahead
    assert (await store.counts(campaign_id)).claimed == 14

    messenger.gate.set()
    assert await task == 0
    assert_sent_once_to_everyone(messenger)
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED


async def test_a_slow_rate_claims_one_batch_at_a_time() -> None:
    store, messenger = CountingStore(), GatedMessenger()
    campaign_id = await running_campaign(store)
    # 0.5 messages/s: a claim of 10 rows lasts 20 s, so nothing is claimed ahead of it.
    task = asyncio.create_task(
        daemon(store, messenger, concurrency=5, batch_size=7, message_rate=0.5).run()
    )
    await wait_for(lambda: messenger.in_flight == 1, "the first send")
    await asyncio.sleep(0.05)
    assert store.claims == 1
    assert (await store.counts(campaign_id)).claimed == 7
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_claim_running_at_stop_is_waited_for_and_its_rows_released() -> None:
    store, messenger = CountingStore(hold_after=1), GatedMessenger()
    campaign_id = await running_campaign(store)
    first = daemon(store, messenger, concurrency=5, batch_size=7)
    task = asyncio.create_task(first.run())
    await wait_for(store.holding.is_set, "the claim ahead")
    await wait_for(lambda: messenger.in_flight == 5, "five sends in flight")
    first.stopping.set()
    messenger.gate.set()  # the sends finish; the runner stops with the claim ahead still running
    await wait_for(lambda: len(messenger.sent) == 5, "the sends in flight")
    await asyncio.sleep(0.05)
    assert not task.done()  # waiting for the claim in progress
    store.gate.set()  # it takes its 7 rows only now, after the stop
    assert await task == 0

    counts = await store.counts(campaign_id)
    assert counts.claimed == 0 and counts.sent == 5
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.RUNNING
    store.hold_after = None
    messenger.closed = False
    assert await daemon(store, messenger).run() == 0
    assert_sent_once_to_everyone(messenger)


@pytest.mark.usefixtures("fast_renewal")
async def test_claims_waiting_past_the_lease_are_renewed_not_resent() -> None:
    store, messenger = MemoryStore(), GatedMessenger()
    campaign_id = await running_campaign(store)
    now = [T0]
    task = asyncio.create_task(clocked_daemon(store, messenger, now).run())
    await wait_for(lambda: messenger.in_flight == 5, "five sends in flight")
    assert (await store.counts(campaign_id)).claimed == 14
    now[0] = T0 + 3 * CLAIM_LEASE  # the sends and the claims wait half an hour
    await asyncio.sleep(0.2)
    # Another daemon starting now takes claims older than the lease for a dead daemon's.
    assert await store.recover_claims("another-daemon", CLAIM_LEASE, now[0]) == 0
    assert (await store.counts(campaign_id)).claimed == 14

    messenger.gate.set()
    assert await task == 0
    assert_sent_once_to_everyone(messenger)


@pytest.mark.usefixtures("fast_renewal")
async def test_a_running_daemon_takes_back_the_claims_a_dead_one_left() -> None:
    store, messenger = MemoryStore(), RecordingMessenger()
    campaign_id = await running_campaign(store)
    await store.populate_ledger(campaign_id, T0)
    # Another daemon claimed 7 rows at T0 and died without renewing them.
    left = await store.claim_batch(campaign_id, "dead-daemon", 7, T0)
    now = [T0 + dt.timedelta(minutes=1)]  # this one starts while they look alive
    task = asyncio.create_task(clocked_daemon(store, messenger, now).run())
    await wait_for(lambda: len(messenger.sent) == len(eligible(30)) - 7, "everyone else")
    await asyncio.sleep(0.2)
    assert not task.done()  # the campaign waits for the 7 claimed rows
    assert (await store.counts(campaign_id)).claimed == 7

    now[0] = T0 + CLAIM_LEASE + dt.timedelta(minutes=1)  # not renewed for more than the lease
    assert await asyncio.wait_for(task, 5) == 0
    assert_sent_once_to_everyone(messenger)
    assert {r.email for r in left} <= set(delivered(messenger))
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED


@pytest.mark.parametrize(
    ("app", "ahead"),
    [
        ({"message_rate": 0}, True),
        ({"message_rate": 10, "concurrency": 10, "batch_size": 1000}, True),  # 100 rows, 10 s
        ({"message_rate": 0.5, "concurrency": 10}, False),  # 20 rows at 0.5/s: 40 s
        ({"message_rate": 0, "sliding_window": True}, False),  # the window may hold it for long
    ],
)
def test_claims_ahead_only_when_a_claim_is_sent_within_seconds(
    app: dict[str, object], ahead: bool
) -> None:
    engine = Engine(
        store=MemoryStore(),
        app=AppSettings.model_validate(app),
        secret="s" * 32,
        owner="test",
        messengers={},
        clock=lambda: dt.datetime.now(dt.UTC),
    )
    assert engine.claims_ahead() is ahead
