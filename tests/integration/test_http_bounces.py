"""On every store (memory, SQLite, PostgreSQL): a one-click unsubscribe reaches the next batches
of a running campaign; send-time SMTP bounces through the daemon blocklist or count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from campaignd.config import AppSettings, SecuritySettings, Settings, SmtpSettings
from campaignd.daemon.service import Daemon
from campaignd.domain import (
    CampaignStatus,
    DeliveryStatus,
    NewCampaign,
    OptIn,
    SubscriberStatus,
    SubscriptionStatus,
    utcnow,
)
from campaignd.http.app import create_app
from campaignd.rendering.tokens import sign
from campaignd.store.protocol import Store
from tests.integration.store_fixtures import subscriber

SECRET = "k" * 32


async def running_campaign(store: Store) -> Any:
    campaign = await store.create_campaign(
        NewCampaign(
            name="C",
            subject="Hello {{ subscriber.name }}",
            from_email="News <news@example.com>",
            body="<p>Hi</p>",
            lists=("news",),
        ),
        None,
    )
    await store.transition(
        campaign.id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=utcnow()
    )
    return campaign


async def test_unsubscribe_reaches_the_later_batches_of_a_running_campaign(store: Store) -> None:
    news = await store.create_list("news", OptIn.SINGLE, "")
    for i in range(6):
        await subscriber(store, f"u{i}@example.com", (news.id,))
    campaign = await running_campaign(store)
    assert await store.populate_ledger(campaign.id, utcnow()) == 6
    first = await store.claim_batch(campaign.id, "me", 2, utcnow())
    assert [r.email for r in first] == ["u0@example.com", "u1@example.com"]

    leaving = await store.get_subscriber("u4@example.com")
    token = sign(SECRET, "unsub", leaving.uuid, campaign.uuid)
    app = create_app(store, Settings(security=SecuritySettings(secret=SecretStr(SECRET))))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://x") as client:
        r = await client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200

    rest = await store.claim_batch(campaign.id, "me", 10, utcnow())
    assert [r.email for r in rest] == [f"u{i}@example.com" for i in (2, 3, 5)]
    counts = await store.counts(campaign.id)
    assert counts.skipped == 1


async def test_send_time_bounces_blocklist_hard_and_count_soft(
    store: Store, smtp_servers: Callable[..., Any]
) -> None:
    server = await smtp_servers()
    news = await store.create_list("news", OptIn.SINGLE, "")
    other = await store.create_list("other", OptIn.SINGLE, "")
    for name in ("gone", "full", "fine", "spam"):
        await subscriber(store, f"{name}@example.com", (news.id, other.id))
    campaign = await running_campaign(store)
    # Replies in claim order (one connection: max_conns=1): gone, full, fine, spam.
    server.faults.add("RCPT", "550 5.1.1 no such user", "552 5.2.2 mailbox full")
    server.faults.add("DATA", "554 5.7.1 message refused as spam")
    cfg = Settings(
        app=AppSettings(message_rate=0, concurrency=1, poll_interval=0.02),
        security=SecuritySettings(secret=SecretStr(SECRET)),
        smtp=(
            SmtpSettings(
                host=server.host,
                port=server.port,
                tls_type="none",  # type: ignore[arg-type]
                auth_protocol="none",  # type: ignore[arg-type]
                max_conns=1,
            ),
        ),
    )
    assert await Daemon(cfg, until_idle=True, store=store).run() == 0

    failures = {f.email: f for f in await store.failures(campaign.id)}
    assert set(failures) == {"gone@example.com", "full@example.com", "fine@example.com"}
    assert all(f.status is DeliveryStatus.FAILED for f in failures.values())

    gone = await store.get_subscriber("gone@example.com")
    assert gone.status is SubscriberStatus.BLOCKLISTED
    full = await store.get_subscriber("full@example.com")
    assert full.status is SubscriberStatus.ENABLED  # one soft bounce of three
    assert {s.status for s in full.subscriptions} == {SubscriptionStatus.CONFIRMED}
    # Its bounce was recorded: the next one is its second.
    assert await store.add_bounce(full.id, None, "soft", "test", "", utcnow()) == 2
    # A policy refusal of our message is no bounce of the recipient.
    fine = await store.get_subscriber("fine@example.com")
    assert fine.status is SubscriberStatus.ENABLED
    assert await store.add_bounce(fine.id, None, "hard", "test", "", utcnow()) == 1
    assert await store.add_bounce(fine.id, None, "soft", "test", "", utcnow()) == 1
