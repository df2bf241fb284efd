"""The mailbox scanner against a real Dovecot: IMAP over TLS and STARTTLS, POP3 over TLS, a
bounce and a mailto unsubscribe applied, foreign mail cleared, moves and deletions on the
server, a wrong password named without the password."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from campaignd.bounces.mailin import MailApplier
from campaignd.bounces.suppression import Suppressor
from campaignd.config import BounceSettings
from campaignd.config.mailbox import MailboxSettings
from campaignd.daemon.mailbox import MailboxScanner
from campaignd.domain import NewCampaign, NewSubscriber, OptIn, SubscriptionStatus
from campaignd.errors import MailboxError
from campaignd.rendering.verp import VerpCodec
from campaignd.store.memory import MemoryStore
from tests.mailbox.dovecot import PASSWORD, USER, Dovecot
from tests.support.certs import TestCA

DATA = Path(__file__).parents[1] / "data" / "inbound"
NOW = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
SECRET = "a-signing-secret-of-some-length"
CODEC = VerpCodec(SECRET, "bounces@example.com", "unsubscribe@example.com")


@dataclass
class World:
    store: MemoryStore
    ann: uuid.UUID
    campaign_id: int
    ca_file: Path

    def address(self, role: str = "bounces") -> str:
        return f"{role}+{CODEC.token(self.campaign_id, self.ann)}@example.com"

    def scanner(self, **settings: Any) -> MailboxScanner:
        base: dict[str, Any] = {
            "name": "bounces",
            "host": "127.0.0.1",
            "username": USER,
            "password": PASSWORD,
            "tls_ca_file": self.ca_file,
            "timeout": 10,
        }
        cfg = MailboxSettings(**(base | settings))
        suppressor = Suppressor(self.store, BounceSettings(), lambda: NOW)
        return MailboxScanner(cfg, CODEC, MailApplier(self.store, suppressor))

    async def ann_state(self) -> tuple[str, dict[str, SubscriptionStatus]]:
        found = await self.store.get_subscriber("ann@example.org")
        return found.status.value, {s.list_name: s.status for s in found.subscriptions}


@pytest.fixture
async def world(dovecot: Dovecot, test_ca: TestCA, tmp_path: Path) -> World:
    for folder in ("", ".campaignd-done"):  # start each test with an empty mailbox
        for sub in ("new", "cur"):
            for f in (dovecot.maildir / folder / sub).glob("*"):
                f.unlink()
    store = MemoryStore()
    await store.create_list("news", OptIn.SINGLE, "")
    sub = await store.add_subscriber(
        NewSubscriber("ann@example.org", "Ann"), [1], SubscriptionStatus.CONFIRMED
    )
    campaign = await store.create_campaign(
        NewCampaign("May", "May", "news@example.com", "hi", ("news",)), None
    )
    return World(store, sub.uuid, campaign.id, test_ca.write_pem(tmp_path / "ca.pem"))


def delivered(to: str, name: str) -> bytes:
    return f"Delivered-To: {to}\r\n".encode() + (DATA / name).read_bytes()


async def test_imap_tls_applies_a_bounce_and_moves_what_it_read(
    world: World, dovecot: Dovecot
) -> None:
    dovecot.deliver(delivered(world.address(), "postfix-user-unknown.eml"))
    dovecot.deliver(delivered("someone@elsewhere.example", "gmail-no-such-user.eml"))
    result = await world.scanner(port=dovecot.imaps, after="move").poll()
    assert (result.applied, result.foreign, result.kept) == (1, 1, 0)
    status, _ = await world.ann_state()
    assert status == "blocklisted"
    assert dovecot.count() == 0 and dovecot.count(".campaignd-done") == 2
    again = await world.scanner(port=dovecot.imaps, after="move").poll()
    assert (again.applied, again.foreign) == (0, 0)  # nothing is read twice


async def test_imap_starttls_on_the_plain_port(world: World, dovecot: Dovecot) -> None:
    dovecot.deliver(delivered(world.address("unsubscribe"), "unsubscribe-mailto.eml"))
    result = await world.scanner(port=dovecot.imap, tls_type="STARTTLS").poll()
    assert result.applied == 1 and dovecot.count() == 0
    _, subscriptions = await world.ann_state()
    assert subscriptions == {"news": SubscriptionStatus.UNSUBSCRIBED}


async def test_pop3_tls_applies_and_deletes(world: World, dovecot: Dovecot) -> None:
    dovecot.deliver(delivered(world.address(), "postfix-mailbox-full.eml"))
    dovecot.deliver(delivered(world.address("unsubscribe"), "unsubscribe-mailto.eml"))
    result = await world.scanner(protocol="pop3", port=dovecot.pop3s).poll()
    assert result.applied == 2 and dovecot.count() == 0
    status, subscriptions = await world.ann_state()
    assert status == "enabled"  # one soft bounce is counted, not acted on
    assert subscriptions == {"news": SubscriptionStatus.UNSUBSCRIBED}
    assert [b[2] for b in world.store._bounces] == ["soft"]


async def test_a_wrong_password_or_untrusted_certificate_is_one_clear_error(
    world: World, dovecot: Dovecot, tmp_path: Path
) -> None:
    dovecot.deliver(delivered(world.address(), "postfix-user-unknown.eml"))
    with pytest.raises(MailboxError) as wrong:
        await world.scanner(port=dovecot.imaps, password="not-the-password").poll()
    assert "mailbox bounces" in str(wrong.value) and "not-the-password" not in str(wrong.value)
    other_ca = TestCA().write_pem(tmp_path / "other-ca.pem")
    with pytest.raises(MailboxError, match="certificate"):
        await world.scanner(port=dovecot.imaps, tls_ca_file=other_ca).poll()
    assert dovecot.count() == 1  # nothing was read or removed
    status, _ = await world.ann_state()
    assert status == "enabled"
