"""A large campaign's ledger is filled in chunks: sending starts after the first chunk, and the
campaign finishes only once every chunk is in."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from campaignd.domain import CampaignStatus
from campaignd.errors import StoreError
from campaignd.messengers.recording import RecordingMessenger
from campaignd.sending import ledgerfill
from campaignd.store.memory import MemoryStore
from tests.unit.test_dispatch import daemon, delivered, eligible, seed, start


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledgerfill, "FIRST_CHUNK", 3)
    monkeypatch.setattr(ledgerfill, "CHUNK", 4)


class GatedStore(MemoryStore):
    """Holds every chunk after the first until `gate` is set; can fail chunks on request."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.chunks: list[tuple[int, int | None]] = []
        self.failures: list[BaseException] = []

    async def populate_ledger(
        self, campaign_id: int, now: dt.datetime, *, after: int = 0, upto: int | None = None
    ) -> int:
        self.chunks.append((after, upto))
        if after > 0:
            await self.gate.wait()
            if self.failures:
                raise self.failures.pop(0)
        return await super().populate_ledger(campaign_id, now, after=after, upto=upto)


async def test_every_chunk_is_sent_exactly_once() -> None:
    store, messenger = MemoryStore(), RecordingMessenger()
    campaign_id = await seed(store, n=30)
    await start(store, campaign_id)
    assert await daemon(store, messenger).run() == 0

    got = delivered(messenger)
    assert set(got) == eligible(30)
    assert max(got.values()) == 1
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED
    assert (await store.counts(campaign_id)).to_send == len(eligible(30))


async def test_sending_starts_before_the_rest_of_the_ledger_is_in() -> None:
    store, messenger = GatedStore(), RecordingMessenger()
    campaign_id = await seed(store, n=30)
    await start(store, campaign_id)
    task = asyncio.create_task(daemon(store, messenger).run())
    while len(messenger.sent) < 3:  # the first chunk: subscriber ids 1-3
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    # Everything of the first chunk went out, and nothing finished while the rest waits.
    assert len(messenger.sent) == 3
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.RUNNING
    store.gate.set()
    assert await task == 0

    assert store.chunks[0] == (0, 3)
    assert store.chunks[1:3] == [(3, 7), (7, 11)]
    got = delivered(messenger)
    assert set(got) == eligible(30) and max(got.values()) == 1
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED


async def test_a_database_error_while_adding_a_chunk_is_retried() -> None:
    store, messenger = GatedStore(), RecordingMessenger()
    store.failures = [StoreError("database is locked"), StoreError("database is locked")]
    store.gate.set()
    campaign_id = await seed(store, n=30)
    await start(store, campaign_id)
    assert await daemon(store, messenger).run() == 0

    got = delivered(messenger)
    assert set(got) == eligible(30) and max(got.values()) == 1
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED


async def test_a_failing_chunk_pauses_the_campaign_instead_of_finishing_it() -> None:
    store, messenger = GatedStore(), RecordingMessenger()
    store.failures = [RuntimeError("boom")]
    store.gate.set()
    campaign_id = await seed(store, n=30)
    await start(store, campaign_id)
    await daemon(store, messenger).run()

    campaign = await store.get_campaign(campaign_id)
    assert campaign.status is CampaignStatus.PAUSED
    assert campaign.pause_reason and "ledger" in campaign.pause_reason
    assert len(messenger.sent) < len(eligible(30))


async def test_stop_while_populating_leaves_it_running_and_a_restart_completes_it() -> None:
    store, messenger = GatedStore(), RecordingMessenger()
    campaign_id = await seed(store, n=30)
    await start(store, campaign_id)
    first = daemon(store, messenger)
    task = asyncio.create_task(first.run())
    while len(messenger.sent) < 3:
        await asyncio.sleep(0.01)
    first.stopping.set()
    assert await task == 0
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.RUNNING

    store.gate.set()
    messenger.closed = False
    await daemon(store, messenger).run()
    got = delivered(messenger)
    assert set(got) == eligible(30) and max(got.values()) == 1
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED
