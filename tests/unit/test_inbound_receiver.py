"""The inbound SMTP receiver in-process on a MemoryStore: what it accepts and what each mail
changes, refusals (550, 452, 421), a database outage (451, applied on the retry), STARTTLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import smtplib
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from campaignd.bounces.classify import classify_mail
from campaignd.bounces.mailin import MailApplier
from campaignd.bounces.suppression import Suppressor
from campaignd.config import BounceSettings, InboundSettings
from campaignd.daemon.inbound import MAX_RECIPIENTS, InboundServer
from campaignd.domain import (
    NewCampaign,
    NewSubscriber,
    OptIn,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.errors import StoreError
from campaignd.rendering.verp import VerpCodec
from campaignd.store.memory import MemoryStore
from tests.support.certs import TestCA

SECRET = "a-signing-secret-of-some-length"
DATA = Path(__file__).parents[1] / "data" / "inbound"
NOW = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC)


class FlakyStore(MemoryStore):
    down = False
    broken = False

    async def get_subscriber_by_uuid(self, subscriber_uuid: uuid.UUID) -> Any:
        if self.down:
            raise StoreError("database unavailable")
        if self.broken:
            raise RuntimeError("a bug with a secret-looking detail")
        return await super().get_subscriber_by_uuid(subscriber_uuid)


@dataclass
class World:
    store: FlakyStore
    server: InboundServer
    codec: VerpCodec
    ann: uuid.UUID
    campaign_id: int

    def bounce(self, campaign_id: int | None = None) -> str:
        token = self.codec.token(campaign_id or self.campaign_id, self.ann)
        return f"bounces+{token}@example.com"

    def unsubscribe(self, campaign_id: int | None = None) -> str:
        token = self.codec.token(campaign_id or self.campaign_id, self.ann)
        return f"unsubscribe+{token}@example.com"

    async def subscriptions(self) -> dict[str, SubscriptionStatus]:
        found = await self.store.get_subscriber("ann@example.org")
        return {s.list_name: s.status for s in found.subscriptions}


async def start(
    store: FlakyStore | None = None, *, tls: tuple[Path, Path] | None = None, **settings: Any
) -> World:
    store = store or FlakyStore()
    await store.create_list("news", OptIn.SINGLE, "")
    await store.create_list("other", OptIn.SINGLE, "")
    sub = await store.add_subscriber(
        NewSubscriber("ann@example.org", "Ann"), [1, 2], SubscriptionStatus.CONFIRMED
    )
    campaign = await store.create_campaign(
        NewCampaign("May", "May", "news@example.com", "hi", ("news",)), None
    )
    codec = VerpCodec(SECRET, "bounces@example.com", "unsubscribe@example.com")
    cfg = InboundSettings(
        enabled=True,
        listen="127.0.0.1:0",
        tls_cert_file=tls[0] if tls else None,
        tls_key_file=tls[1] if tls else None,
        **settings,
    )
    suppressor = Suppressor(store, BounceSettings(), lambda: NOW)
    server = InboundServer(cfg, codec, MailApplier(store, suppressor))
    await server.start()
    return World(store, server, codec, sub.uuid, campaign.id)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = await start()
    try:
        yield w
    finally:
        await w.server.stop()


def send(port: int, rcpts: list[str], data: bytes) -> list[tuple[int, bytes]]:
    """Replies to each RCPT, then DATA's (when one was accepted)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("mx.example.net")
        client.mail("")
        replies = [client.rcpt(r) for r in rcpts]
        if any(code == 250 for code, _ in replies):
            replies.append(client.data(data))
        return replies


def unsubscribe_mail(to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "ann@example.org"
    msg["To"] = to
    msg["Subject"] = "unsubscribe"
    msg.set_content("unsubscribe")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def dsn() -> bytes:
    raw = (DATA / "postfix-user-unknown.eml").read_bytes().replace(b"\r\n", b"\n")
    return raw.replace(b"\n", b"\r\n")


async def test_mailto_unsubscribe_leaves_the_campaigns_lists(world: World) -> None:
    to = world.unsubscribe()
    replies = await asyncio.to_thread(send, world.server.port, [to], unsubscribe_mail(to))
    assert [code for code, _ in replies] == [250, 250]
    assert await world.subscriptions() == {
        "news": SubscriptionStatus.UNSUBSCRIBED,
        "other": SubscriptionStatus.CONFIRMED,
    }


async def test_unsubscribe_for_a_campaign_that_is_gone_leaves_every_list(world: World) -> None:
    to = world.unsubscribe(campaign_id=999)
    replies = await asyncio.to_thread(send, world.server.port, [to], unsubscribe_mail(to))
    assert [code for code, _ in replies] == [250, 250]
    assert set((await world.subscriptions()).values()) == {SubscriptionStatus.UNSUBSCRIBED}


async def test_a_dsn_bounces_the_subscriber_the_token_names(world: World) -> None:
    """The DSN is about nobody.here@example.org, a stranger: the token decides, not the text."""
    replies = await asyncio.to_thread(send, world.server.port, [world.bounce()], dsn())
    assert [code for code, _ in replies] == [250, 250]
    ann = await world.store.get_subscriber("ann@example.org")
    assert ann.status is SubscriberStatus.BLOCKLISTED


async def test_the_same_report_twice_counts_once() -> None:
    store = FlakyStore()
    w = await start(store)
    await w.server.stop()
    applier = w.server.applier
    result = classify_mail(dsn(), envelope_recipient=w.bounce())
    first = await applier.apply(result, w.campaign_id, w.ann)
    again = await applier.apply(result, w.campaign_id, w.ann)
    assert (first.outcome, first.campaign_id, again.outcome) == (
        "bounced",
        w.campaign_id,
        "duplicate",
    )
    gone = await applier.apply(result, w.campaign_id, uuid.uuid4())
    assert gone.outcome == "unknown"


async def test_an_auto_reply_changes_nothing(world: World) -> None:
    raw = (DATA / "vacation-rfc3834.eml").read_bytes().replace(b"\r\n", b"\n")
    for to in (world.bounce(), world.unsubscribe()):
        replies = await asyncio.to_thread(
            send, world.server.port, [to], raw.replace(b"\n", b"\r\n")
        )
        assert [code for code, _ in replies] == [250, 250]
    assert set((await world.subscriptions()).values()) == {SubscriptionStatus.CONFIRMED}
    assert (await world.store.get_subscriber("ann@example.org")).status is SubscriberStatus.ENABLED


async def test_foreign_recipients_are_refused_and_counted(world: World) -> None:
    good = world.bounce()
    forged = good.replace("bounces+", "bounces+a", 1)[: -len("@example.com")] + "@example.com"
    replies = await asyncio.to_thread(
        send, world.server.port, [forged, "root@example.com", "x@example.net"], b"x\r\n"
    )
    assert [code for code, _ in replies] == [550, 550, 550]
    many = [good] * (MAX_RECIPIENTS + 1)
    replies = await asyncio.to_thread(send, world.server.port, many, unsubscribe_mail(good))
    assert [code for code, _ in replies[:-1]] == [250] * MAX_RECIPIENTS + [452]


async def test_a_database_outage_answers_451_and_the_retry_applies() -> None:
    store = FlakyStore()
    w = await start(store)
    try:
        store.down = True
        to = w.unsubscribe()
        replies = await asyncio.to_thread(send, w.server.port, [to], unsubscribe_mail(to))
        assert replies[-1][0] == 451
        store.down = False
        replies = await asyncio.to_thread(send, w.server.port, [to], unsubscribe_mail(to))
        assert replies[-1][0] == 250
        assert (await w.subscriptions())["news"] is SubscriptionStatus.UNSUBSCRIBED
    finally:
        await w.server.stop()


async def test_a_bug_answers_451_without_its_details(caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore()
    w = await start(store)
    try:
        store.broken = True
        to = w.unsubscribe()
        replies = await asyncio.to_thread(send, w.server.port, [to], unsubscribe_mail(to))
        assert replies[-1][0] == 451 and b"secret" not in replies[-1][1]
        assert "a bug with a secret-looking detail" in caplog.text
        assert (await w.subscriptions())["news"] is SubscriptionStatus.CONFIRMED
    finally:
        await w.server.stop()


async def test_connections_per_client_are_limited() -> None:
    w = await start(max_connections_per_client=2)
    clients: list[smtplib.SMTP] = []
    try:
        for _ in range(2):
            client = smtplib.SMTP(timeout=10)
            code, _ = await asyncio.to_thread(client.connect, "127.0.0.1", w.server.port)
            assert code == 220
            clients.append(client)
        third = smtplib.SMTP(timeout=10)
        clients.append(third)
        code, reply = await asyncio.to_thread(third.connect, "127.0.0.1", w.server.port)
        assert (code, reply[:5]) == (421, b"4.7.0")
        third.close()
        clients.remove(third)
        clients.pop().close()
        for _ in range(50):  # the server sees the close
            if sum(w.server._clients.values()) < 2:
                break
            await asyncio.sleep(0.02)
        again = smtplib.SMTP(timeout=10)
        code, _ = await asyncio.to_thread(again.connect, "127.0.0.1", w.server.port)
        assert code == 220
        clients.append(again)
    finally:
        for c in clients:
            c.close()
        await w.server.stop()


async def test_starttls_is_offered_with_a_certificate(tmp_path: Path) -> None:
    ca = TestCA()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.cert.cert_chain_pems[0].write_to_path(str(cert))
    ca.cert.private_key_pem.write_to_path(str(key))
    w = await start(tls=(cert, key))
    client_ctx = ssl.create_default_context(cafile=str(ca.write_pem(tmp_path / "ca.pem")))

    def session() -> tuple[int, int]:
        with smtplib.SMTP("127.0.0.1", w.server.port, timeout=10) as client:
            client.ehlo("mx.example.net")
            assert client.has_extn("starttls")
            code, _ = client.starttls(context=client_ctx)
            client.ehlo("mx.example.net")
            to = w.unsubscribe()
            client.mail("")
            client.rcpt(to)
            return code, client.data(unsubscribe_mail(to))[0]

    try:
        assert await asyncio.to_thread(session) == (220, 250)
        assert (await w.subscriptions())["news"] is SubscriptionStatus.UNSUBSCRIBED
    finally:
        await w.server.stop()
