"""The mailbox scanner on an in-memory mailbox and a MemoryStore: what it applies, what it
deletes, what it keeps when the database fails, hostile and foreign mail, outages logged once."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from campaignd.bounces.mailin import MailApplier
from campaignd.bounces.mailroute import MAX_CANDIDATES, mailbox_targets
from campaignd.bounces.suppression import Suppressor
from campaignd.config import BounceSettings
from campaignd.config.mailbox import MailboxSettings
from campaignd.daemon.mailbox import MailboxScanner
from campaignd.domain import NewCampaign, NewSubscriber, OptIn, SubscriptionStatus
from campaignd.errors import MailboxError, StoreError
from campaignd.rendering.verp import Role, VerpCodec
from campaignd.store.memory import MemoryStore

SECRET = "a-signing-secret-of-some-length"
DATA = Path(__file__).parents[1] / "data" / "inbound"
NOW = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
CODEC = VerpCodec(SECRET, "bounces@example.com", "unsubscribe@example.com")


@dataclass
class FakeMailbox:
    """The in-memory twin of a MailboxClient session (and its server's state)."""

    messages: dict[str, bytes]
    finished: list[str] = field(default_factory=list)
    closed: int = 0
    unreachable: bool = False

    def open(self, settings: MailboxSettings) -> FakeMailbox:
        if self.unreachable:
            raise MailboxError(settings.label, "connect: Connection refused")
        return self

    def list(self) -> list[tuple[str, int]]:
        return [(k, len(v)) for k, v in self.messages.items()]

    def fetch(self, message_id: str) -> bytes:
        return self.messages[message_id]

    def finish(self, message_id: str) -> None:
        self.finished.append(message_id)
        del self.messages[message_id]

    def close(self) -> None:
        self.closed += 1


class FlakyStore(MemoryStore):
    down = False

    async def get_subscriber_by_uuid(self, subscriber_uuid: uuid.UUID) -> Any:
        if self.down:
            raise StoreError("database unavailable")
        return await super().get_subscriber_by_uuid(subscriber_uuid)


@dataclass
class World:
    store: FlakyStore
    ann: uuid.UUID
    campaign_id: int

    def address(self, role: str = "bounces") -> str:
        return f"{role}+{CODEC.token(self.campaign_id, self.ann)}@example.com"

    async def status(self) -> tuple[str, dict[str, SubscriptionStatus]]:
        found = await self.store.get_subscriber("ann@example.org")
        return found.status.value, {s.list_name: s.status for s in found.subscriptions}


@pytest.fixture
async def world() -> World:
    store = FlakyStore()
    await store.create_list("news", OptIn.SINGLE, "")
    sub = await store.add_subscriber(
        NewSubscriber("ann@example.org", "Ann"), [1], SubscriptionStatus.CONFIRMED
    )
    campaign = await store.create_campaign(
        NewCampaign("May", "May", "news@example.com", "hi", ("news",)), None
    )
    return World(store, sub.uuid, campaign.id)


def scanner(world: World, box: FakeMailbox, **settings: Any) -> MailboxScanner:
    cfg = MailboxSettings(name="bounces", host="imap.example.com", username="u", **settings)
    suppressor = Suppressor(world.store, BounceSettings(), lambda: NOW)
    return MailboxScanner(cfg, CODEC, MailApplier(world.store, suppressor), opener=box.open)


def delivered(to: str, name: str, header: str = "Delivered-To") -> bytes:
    return f"{header}: {to}\r\n".encode() + (DATA / name).read_bytes()


async def test_a_bounce_found_by_its_trace_header_is_applied_then_deleted(world: World) -> None:
    box = FakeMailbox({"1": delivered(world.address(), "postfix-user-unknown.eml")})
    result = await scanner(world, box).poll()
    assert (result.applied, result.foreign, result.kept) == (1, 0, 0)
    assert box.finished == ["1"] and box.closed == 1
    status, _ = await world.status()
    assert status == "blocklisted"  # the default [bounces] rule: one hard bounce blocklists
    assert [b[1:3] for b in world.store._bounces] == [(world.campaign_id, "hard")]


async def test_an_unsubscribe_by_mail_through_x_original_to(world: World) -> None:
    raw = delivered(world.address("unsubscribe"), "unsubscribe-mailto.eml", "X-Original-To")
    box = FakeMailbox({"7": raw})
    result = await scanner(world, box).poll()
    assert result.applied == 1
    _, subscriptions = await world.status()
    assert subscriptions == {"news": SubscriptionStatus.UNSUBSCRIBED}


async def test_the_same_report_twice_counts_once(world: World) -> None:
    raw = delivered(world.address(), "postfix-mailbox-full.eml")  # soft: counted, not final
    box = FakeMailbox({"1": raw, "2": raw})
    await scanner(world, box).poll()
    assert [b[1:4] for b in world.store._bounces] == [(world.campaign_id, "soft", "mail")]


async def test_forged_tokens_and_foreign_mail_change_nothing_and_are_cleared(
    world: World,
) -> None:
    good = world.address()
    forged = good.replace("+", "+x", 1)
    box = FakeMailbox(
        {
            "1": delivered(forged, "postfix-user-unknown.eml"),
            "2": delivered("bounces@example.com", "postfix-user-unknown.eml"),
            "3": delivered(good.replace("example.com", "evil.example"), "gmail-no-such-user.eml"),
            "4": b"\x00\xff garbage \r\n\r\n" * 100,
            "5": delivered(good, "hostile-broken-mime.eml"),
        }
    )
    result = await scanner(world, box).poll()
    assert result.foreign == 4 and result.applied == 1  # 5 is ours, and ignored as unreadable
    assert box.messages == {}
    status, subscriptions = await world.status()
    assert status == "enabled" and subscriptions == {"news": SubscriptionStatus.CONFIRMED}


async def test_oversized_mail_is_not_read(world: World) -> None:
    big = delivered(world.address(), "postfix-user-unknown.eml") + b"x" * 20_000
    box = FakeMailbox({"1": big})
    result = await scanner(world, box, max_message_size=10_000).poll()
    assert result.oversized == 1 and box.finished == ["1"]
    status, _ = await world.status()
    assert status == "enabled"


async def test_a_database_outage_keeps_the_mail_for_the_next_poll(world: World) -> None:
    box = FakeMailbox(
        {
            "1": delivered(world.address(), "postfix-user-unknown.eml"),
            "2": delivered(world.address("unsubscribe"), "unsubscribe-mailto.eml"),
        }
    )
    scan = scanner(world, box)
    world.store.down = True
    result = await scan.poll()
    assert result.kept == 2 and box.finished == [] and box.closed == 1
    world.store.down = False
    result = await scan.poll()
    assert result.applied == 2 and box.messages == {}
    status, _ = await world.status()
    assert status == "blocklisted"


async def test_an_unreachable_mailbox_is_logged_once_until_it_recovers(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    box = FakeMailbox({}, unreachable=True)
    scan = scanner(world, box)
    caplog.set_level(logging.INFO, "campaignd.daemon.mailbox")
    for _ in range(3):
        assert await scan.poll_logged() is None
    box.unreachable = False
    assert await scan.poll_logged() is not None
    actions = [getattr(r, "action", "") for r in caplog.records]
    assert actions.count("mailbox.down") == 1 and actions.count("mailbox.up") == 1
    assert "Connection refused" in caplog.text and "password" not in caplog.text.lower()


def test_targets_come_from_trace_headers_one_per_role(world: World) -> None:
    raw = (
        f"Delivered-To: {world.address()}\r\nTo: Someone <{world.address('unsubscribe')}>\r\n"
        f"Cc: {world.address()}\r\n\r\nbody\r\n"
    ).encode()
    targets = mailbox_targets(raw, CODEC)
    assert [t.role for t in targets] == [Role.BOUNCE, Role.UNSUBSCRIBE]
    assert all(t.subscriber_uuid == world.ann for t in targets)


def test_a_header_stuffed_with_addresses_is_read_only_so_far(world: World) -> None:
    junk = ", ".join(f"bounces+{i}@example.com" for i in range(MAX_CANDIDATES * 4))
    raw = f"To: {junk}\r\nCc: {world.address()}\r\n\r\nbody\r\n".encode()
    assert mailbox_targets(raw, CODEC) == []
