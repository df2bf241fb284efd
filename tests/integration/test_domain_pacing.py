"""[[domain_limits]] end to end on every store, against a real SMTP sink that answers one domain
slowly, or "too fast" (451 4.7.28): the other domains finish first, everyone ends `sent` once."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from typing import Any

from pydantic import SecretStr

from campaignd.config import AppSettings, SecuritySettings, Settings, SmtpSettings
from campaignd.daemon.service import Daemon
from campaignd.domain import CampaignStatus, NewCampaign, OptIn, utcnow
from campaignd.store.protocol import Store
from tests.integration.store_fixtures import subscriber
from tests.support.smtpd import SmtpTestServer

SLOW = "slow.example"


def slow_domain(server: SmtpTestServer, delay: float, throttle: int = 0) -> list[tuple[float, str]]:
    """Make `server` answer messages to SLOW after `delay` seconds, the first `throttle` of
    them with 451 4.7.28; return the list of (time, recipient) of each answer."""
    answered: list[tuple[float, str]] = []
    accept = server.handler.handle_DATA
    left = [throttle]

    async def handle_data(smtp: Any, session: Any, envelope: Any) -> str:
        rcpt = envelope.rcpt_tos[0]
        if rcpt.endswith("@" + SLOW):
            await asyncio.sleep(delay)
            if left[0]:
                left[0] -= 1
                answered.append((time.monotonic(), rcpt))
                return "451 4.7.28 Our system has detected an unusual rate of mail, slow down"
        reply = await accept(smtp, session, envelope)
        answered.append((time.monotonic(), rcpt))
        return reply

    server.handler.handle_DATA = handle_data  # type: ignore[method-assign]
    return answered


def settings(server: SmtpTestServer, limit: dict[str, Any]) -> Settings:
    return Settings(
        app=AppSettings(
            message_rate=0,
            concurrency=6,
            batch_size=10,
            poll_interval=0.05,
            retry_backoff=0.01,
            max_send_errors=1,  # a "too fast" counted as a send error would pause the campaign
            from_email="News <news@example.com>",
        ),
        security=SecuritySettings(secret=SecretStr("k" * 32)),
        smtp=(
            SmtpSettings(
                host=server.host,
                port=server.port,
                tls_type="none",  # type: ignore[arg-type]
                auth_protocol="none",  # type: ignore[arg-type]
                max_conns=6,
            ),
        ),
        domain_limits=({"domains": [SLOW], **limit},),
    )


async def start_campaign(store: Store, emails: list[str]) -> int:
    news = await store.create_list("news", OptIn.SINGLE, "")
    for address in emails:
        await subscriber(store, address, (news.id,))
    campaign = await store.create_campaign(
        NewCampaign(
            name="paced", subject="Hi", from_email="n@example.com", body="<p>b</p>", lists=("news",)
        ),
        None,
    )
    await store.transition(
        campaign.id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=utcnow()
    )
    return campaign.id


def audience(slow: int, fast: int) -> list[str]:
    """The slow domain's recipients first: a runner waiting for them would hold up the rest."""
    return [f"s{i}@{SLOW}" for i in range(slow)] + [
        f"f{i}@fast{i % 4}.example" for i in range(fast)
    ]


async def test_a_slow_domain_does_not_hold_up_the_others(store: Store) -> None:
    emails = audience(4, 36)
    async with SmtpTestServer() as server:
        answered = slow_domain(server, delay=0.3)
        campaign_id = await start_campaign(store, emails)
        cfg = settings(server, {"max_in_flight": 1})
        assert await Daemon(cfg, until_idle=True, store=store).run() == 0

    assert Counter(r for m in server.messages for r in m.rcpt_tos) == Counter(emails)
    slow_done = sorted(t for t, r in answered if r.endswith("@" + SLOW))
    fast_done = [t for t, r in answered if not r.endswith("@" + SLOW)]
    # Every other domain was done while the slow one still had three messages to go.
    assert max(fast_done) < slow_done[1]
    counts = await store.counts(campaign_id)
    assert (counts.sent, counts.failed, counts.remaining) == (40, 0, 0)
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED


async def test_too_fast_replies_pause_the_domain_and_everyone_ends_sent_once(
    store: Store,
) -> None:
    emails = audience(5, 20)
    async with SmtpTestServer() as server:
        answered = slow_domain(server, delay=0.0, throttle=2)
        campaign_id = await start_campaign(store, emails)
        cfg = settings(server, {"max_in_flight": 2, "backoff": "300ms", "max_backoff": "2s"})
        assert await Daemon(cfg, until_idle=True, store=store).run() == 0

    assert Counter(r for m in server.messages for r in m.rcpt_tos) == Counter(emails)
    # The pool did not retry a "too fast" at once: one DATA per message, plus the two refused.
    assert len(answered) == 25 + 2
    slow = [t for t, r in answered if r.endswith("@" + SLOW)]
    # After the first "too fast", the domain got nothing for the back-off (300 ms).
    gaps = [b - a for a, b in itertools.pairwise(slow)]
    assert max(gaps) >= 0.3 * 0.95
    counts = await store.counts(campaign_id)
    assert (counts.sent, counts.failed, counts.remaining) == (25, 0, 0)
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED
