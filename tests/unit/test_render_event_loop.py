"""A hostile template does not hold the daemon's event loop: /healthz answers meanwhile."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from typing import Any

from pydantic import SecretStr

from campaignd.config import AppSettings, HttpSettings, SecuritySettings, Settings
from campaignd.daemon.service import Daemon
from campaignd.devtools.devsmtp import free_port
from campaignd.domain import (
    CampaignStatus,
    NewCampaign,
    NewSubscriber,
    OptIn,
    SubscriptionStatus,
    utcnow,
)
from campaignd.messengers.recording import RecordingMessenger
from campaignd.store.memory import MemoryStore

SLOW = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


def _health(url: str) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http, local)
        assert response.status == 200
    return time.monotonic() - started


async def test_healthz_answers_within_a_second_while_a_bomb_template_renders() -> None:
    store, messenger = MemoryStore(), RecordingMessenger()
    news = await store.create_list("news", OptIn.SINGLE, "")
    for i in range(4):
        await store.add_subscriber(
            NewSubscriber(f"u{i}@example.com", f"U {i}"), [news.id], SubscriptionStatus.CONFIRMED
        )
    campaign = await store.create_campaign(
        NewCampaign(name="bomb", subject="Hi", from_email="n@example.com", body=SLOW,
                    lists=("news",)),
        None,
    )  # fmt: skip
    await store.transition(
        campaign.id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=utcnow()
    )
    port = free_port()
    app: dict[str, Any] = {"message_rate": 0, "poll_interval": 0.05, "concurrency": 2}
    settings = Settings(
        app=AppSettings(**app, template_timeout=1.5, max_render_failures=0),
        http=HttpSettings(enabled=True, listen=f"127.0.0.1:{port}"),
        security=SecuritySettings(secret=SecretStr("s" * 32)),
    )
    daemon = Daemon(
        settings, until_idle=True, store=store, messengers=lambda _s: {"email": messenger}
    )
    running = asyncio.create_task(daemon.run())
    url = f"http://127.0.0.1:{port}/healthz"
    deadline = time.monotonic() + 10
    while True:  # the endpoint is up
        try:
            await asyncio.to_thread(_health, url)
            break
        except OSError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    times = []
    while not running.done() and len(times) < 20:
        times.append(await asyncio.to_thread(_health, url))
        await asyncio.sleep(0.1)
    await running
    assert len(times) >= 10  # four renders of 1.5 s each: the checks ran while they did
    assert max(times) < 1.0, times
    counts = await store.counts(campaign.id)
    assert counts.failed == 4
    assert "longer than 1.5s" in (await store.failures(campaign.id))[0].text
