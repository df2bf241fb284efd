"""The daemon in-process on every store (memory, SQLite, PostgreSQL) against real SMTP servers:
pool rotation, a named messenger used alone, permanent failures in the ledger, retry-failed."""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from campaignd.config import (
    AppSettings,
    BounceSettings,
    SecuritySettings,
    Settings,
    SmtpSettings,
)
from campaignd.daemon.service import Daemon
from campaignd.domain import CampaignStatus, NewCampaign, OptIn, utcnow
from campaignd.store.protocol import Store
from tests.integration.store_fixtures import subscriber
from tests.support.smtpd import SmtpTestServer


def settings(*servers: tuple[SmtpTestServer, str]) -> Settings:
    return Settings(
        app=AppSettings(
            message_rate=0,
            concurrency=4,
            batch_size=10,
            poll_interval=0.02,
            retry_backoff=0.01,
            from_email="News <news@example.com>",
        ),
        security=SecuritySettings(secret=SecretStr("k" * 32)),
        smtp=tuple(
            SmtpSettings(
                host=s.host,
                port=s.port,
                name=name,
                tls_type="none",  # type: ignore[arg-type]
                auth_protocol="none",  # type: ignore[arg-type]
                max_conns=2,
            )
            for s, name in servers
        ),
    )


async def new_campaign(store: Store, name: str, messenger: str = "email") -> int:
    campaign = await store.create_campaign(
        NewCampaign(
            name=name,
            subject=f"{name} for {{{{ subscriber.name }}}}",
            from_email="News <news@example.com>",
            body="<p>Hi {{ subscriber.name }}</p>",
            lists=("news",),
            messenger=messenger,
        ),
        None,
    )
    await store.transition(
        campaign.id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=utcnow()
    )
    return campaign.id


def recipients(server: SmtpTestServer, campaign: str | None = None) -> Counter[str]:
    got: Counter[str] = Counter()
    for m in server.messages:
        msg = email.message_from_bytes(m.data, policy=email.policy.default)
        if campaign is None or str(msg["Subject"]).startswith(campaign):
            got.update(m.rcpt_tos)
    return got


async def test_pool_rotates_and_named_messenger_is_used_alone(
    store: Store, smtp_servers: Callable[..., Any]
) -> None:
    one, two, named = await smtp_servers(), await smtp_servers(), await smtp_servers()
    news = await store.create_list("news", OptIn.SINGLE, "")
    everyone = {f"u{i}@example.com" for i in range(40)}
    for address in sorted(everyone):
        await subscriber(store, address, (news.id,))
    pooled = await new_campaign(store, "Pool")
    alone = await new_campaign(store, "Alone", messenger="transactional")

    cfg = settings((one, ""), (two, ""), (named, "transactional"))
    assert await Daemon(cfg, until_idle=True, store=store).run() == 0

    pool_one, pool_two = recipients(one), recipients(two)
    assert set(pool_one) | set(pool_two) == everyone
    assert not set(pool_one) & set(pool_two)  # each recipient once, on one server
    assert 15 <= len(pool_one) <= 25  # really rotates (listmonk picks at random)
    assert set(recipients(named)) == everyone
    assert recipients(one, "Alone") == Counter() and recipients(two, "Alone") == Counter()
    for campaign_id in (pooled, alone):
        counts = await store.counts(campaign_id)
        assert (counts.sent, counts.remaining) == (40, 0)


async def test_permanent_failures_are_recorded_then_retry_failed_delivers(
    store: Store, smtp_servers: Callable[..., Any]
) -> None:
    server = await smtp_servers()
    news = await store.create_list("news", OptIn.SINGLE, "")
    for i in range(12):
        await subscriber(store, f"u{i}@example.com", (news.id,))
    campaign_id = await new_campaign(store, "C")
    server.faults.add("RCPT", *["550 5.1.1 no such user"] * 3)
    # Hard bounces would blocklist these three (tests/integration/test_http_bounces.py); here
    # the ledger's retry is under test, so bounce actions are off.
    cfg = settings((server, "")).model_copy(update={"bounces": BounceSettings(enabled=False)})
    await Daemon(cfg, until_idle=True, store=store).run()

    counts = await store.counts(campaign_id)
    assert (counts.sent, counts.failed) == (9, 3)
    failures = await store.failures(campaign_id)
    assert len(failures) == 3
    assert all(f.code == 550 and f.enhanced == "5.1.1" for f in failures)
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED
    assert (await store.get_campaign(campaign_id)).send_errors == 0  # recipient's fault

    assert await store.reset_failed(campaign_id) == 3
    await store.transition(
        campaign_id,
        frozenset({CampaignStatus.FINISHED}),
        CampaignStatus.RUNNING,
        now=utcnow(),
    )
    await Daemon(cfg, until_idle=True, store=store).run()
    counts = await store.counts(campaign_id)
    assert (counts.sent, counts.failed) == (12, 0)
    got = recipients(server)
    assert len(got) == 12 and max(got.values()) == 1
