"""LISTEN/NOTIFY on PostgreSQL: a transition reaches listeners when it commits (not when it is
refused), a dropped listening connection comes back, and two daemons polling only every 30 s
both pick up a campaign started elsewhere within seconds and send it exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg
import pytest
from pydantic import SecretStr

from campaignd.config import AppSettings, DbSettings, SecuritySettings, Settings
from campaignd.daemon.service import Daemon
from campaignd.db.postgres import notify
from campaignd.db.postgres.copyimport import postgres_dsn
from campaignd.domain import CampaignStatus, ImportOptions, NewSubscriber, utcnow
from campaignd.errors import TransitionRefused
from campaignd.messengers.recording import RecordingMessenger
from campaignd.store.sql import SqlStore
from tests.integration.store_fixtures import campaign, single, store_url

__all__ = ["store_url"]  # fixture
pytestmark = pytest.mark.parametrize("store_url", ["postgres"], indirect=True)

DRAFT = frozenset({CampaignStatus.DRAFT})
RUNNING = frozenset({CampaignStatus.RUNNING})


async def wait_until(check: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_transitions_notify_listeners_and_a_dropped_listener_comes_back(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "RECONNECT_S", 0.1)
    dsn = postgres_dsn(store_url)
    assert dsn is not None
    seen: list[tuple[int, str]] = []
    listener = notify.CampaignListener(dsn, lambda c, s: seen.append((c, s)))
    task = asyncio.create_task(listener.run())
    store = await SqlStore.open(store_url)
    try:
        await asyncio.wait_for(listener.listening.wait(), 10)
        await single(store, "news")
        cid = await campaign(store, "news")
        await store.transition(cid, DRAFT, CampaignStatus.RUNNING, now=utcnow())
        await wait_until(lambda: seen == [(cid, "running")])
        with pytest.raises(TransitionRefused):  # refused: rolled back, nothing sent
            await store.transition(cid, DRAFT, CampaignStatus.RUNNING, now=utcnow())
        await asyncio.sleep(0.3)
        assert seen == [(cid, "running")]

        admin = await asyncpg.connect(dsn)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        finally:
            await admin.close()
        assert killed == 1
        await wait_until(lambda: not listener.listening.is_set(), 5)
        await asyncio.wait_for(listener.listening.wait(), 10)
        await store.transition(cid, RUNNING, CampaignStatus.PAUSED, now=utcnow())
        await wait_until(lambda: seen[-1] == (cid, "paused"))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


async def test_two_daemons_polling_rarely_both_start_at_once_and_send_exactly_once(
    store_url: str,
) -> None:
    n = 400
    stores = [await SqlStore.open(store_url) for _ in range(3)]
    messengers = [RecordingMessenger(delay=0.003) for _ in range(2)]

    def daemon(i: int) -> Daemon:
        app = AppSettings(
            instance_id=f"host{i}",
            message_rate=0,
            concurrency=8,
            batch_size=20,
            poll_interval=30.0,  # the poll alone would start nothing during this test
            from_email="News <news@example.com>",
        )
        settings = Settings(
            app=app,
            db=DbSettings(url=store_url),
            security=SecuritySettings(secret=SecretStr("s" * 32)),
        )
        return Daemon(settings, store=stores[i], messengers=lambda _s: {"email": messengers[i]})

    cli = stores[2]
    news = await single(cli, "news")
    people = [NewSubscriber(f"u{i}@example.com", f"U{i}") for i in range(n)]
    await cli.import_batch(people, ImportOptions(list_ids=(news,)))
    cid = await campaign(cli, "news")
    daemons = [daemon(0), daemon(1)]
    runs = [asyncio.create_task(d.run()) for d in daemons]
    try:
        await asyncio.sleep(2.0)  # both are up, their first tick found nothing to do
        assert not any(m.sent for m in messengers)
        started = time.monotonic()
        await cli.transition(cid, DRAFT, CampaignStatus.RUNNING, now=utcnow())
        await wait_until(lambda: all(m.sent for m in messengers), 10)
        assert time.monotonic() - started < 10  # far sooner than the 30 s poll
        await wait_until(lambda: sum(len(m.sent) for m in messengers) >= n, 30)
        await asyncio.sleep(0.5)
    finally:
        for d in daemons:
            d.stopping.set()
        codes = await asyncio.wait_for(asyncio.gather(*runs), 60)
        for s in stores:
            await s.close()
    assert codes == [0, 0]
    got: Counter[str] = Counter(r for m in messengers for s in m.sent for r in s.recipients)
    assert len(got) == n and max(got.values()) == 1
