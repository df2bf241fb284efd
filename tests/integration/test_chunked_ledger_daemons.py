"""Two daemons on one SQL database send one campaign whose ledger is filled in chunks while
they send: both populate (idempotently), both claim, and everyone gets exactly one message."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from pydantic import SecretStr

from campaignd.config import AppSettings, DbSettings, SecuritySettings, Settings
from campaignd.daemon.service import Daemon
from campaignd.domain import (
    CampaignStatus,
    ImportOptions,
    NewSubscriber,
    SubscriberStatus,
    utcnow,
)
from campaignd.messengers.recording import RecordingMessenger
from campaignd.sending import ledgerfill
from campaignd.store.sql import SqlStore
from tests.integration.store_fixtures import campaign, single, store_url

__all__ = ["store_url"]  # fixture

N = 300


def settings(url: str, owner: str) -> Settings:
    app = AppSettings(
        instance_id=owner,
        message_rate=0,
        concurrency=8,
        batch_size=17,
        poll_interval=0.05,
        from_email="News <news@example.com>",
    )
    return Settings(
        app=app, db=DbSettings(url=url), security=SecuritySettings(secret=SecretStr("s" * 32))
    )


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
async def test_two_daemons_fill_and_send_a_chunked_ledger_exactly_once(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledgerfill, "FIRST_CHUNK", 20)
    monkeypatch.setattr(ledgerfill, "CHUNK", 37)
    stores = [await SqlStore.open(store_url) for _ in range(2)]
    try:
        s0 = stores[0]
        news = await single(s0, "news")
        people = [NewSubscriber(f"u{i}@example.com", f"U{i}") for i in range(N)]
        await s0.import_batch(people, ImportOptions(list_ids=(news,)))
        for i in range(0, N, 50):  # every 50th is blocklisted: not sent, never in the ledger
            await s0.set_subscriber_status(f"u{i}@example.com", SubscriberStatus.BLOCKLISTED)
        eligible = {f"u{i}@example.com" for i in range(N) if i % 50}
        campaign_id = await campaign(s0, "news")
        await s0.transition(
            campaign_id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=utcnow()
        )
        messengers = [RecordingMessenger(delay=0.002) for _ in range(2)]

        def daemon(i: int) -> Daemon:
            return Daemon(
                settings(store_url, f"host/w{i}"),
                until_idle=True,
                store=stores[i],
                messengers=lambda _s: {"email": messengers[i]},
            )

        codes = await asyncio.wait_for(asyncio.gather(daemon(0).run(), daemon(1).run()), 60)
        assert codes == [0, 0]

        got: Counter[str] = Counter(r for m in messengers for s in m.sent for r in s.recipients)
        assert set(got) == eligible
        assert max(got.values()) == 1  # no one twice, whichever daemon sent it
        assert all(m.sent for m in messengers)  # both took part
        counts = await s0.counts(campaign_id)
        assert (counts.to_send, counts.sent, counts.remaining) == (len(eligible),) * 2 + (0,)
        assert (await s0.get_campaign(campaign_id)).status is CampaignStatus.FINISHED
    finally:
        for s in stores:
            await s.close()
