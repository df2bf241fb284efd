"""Double opt-in: the confirmation is sent once per subscriber, and its link confirms on POST."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

import httpx
import pytest
from pydantic import SecretStr

from campaignd.config import AppSettings, SecuritySettings, Settings
from campaignd.domain import (
    NewCampaign,
    NewSubscriber,
    OptIn,
    OutcomeKind,
    SendOutcome,
    SubscriptionStatus,
    utcnow,
)
from campaignd.errors import InvalidInput, MessengerError, TemplateError
from campaignd.http.app import create_app
from campaignd.messengers.recording import RecordingMessenger
from campaignd.rendering.tokens import verify
from campaignd.store.memory import MemoryStore
from campaignd.subscribers import optin

SECRET = "k" * 32
APP = AppSettings(root_url="https://news.example/", from_email="News <news@example.com>")
UNCONFIRMED = SubscriptionStatus.UNCONFIRMED


async def _store() -> MemoryStore:
    store = MemoryStore()
    vip = await store.create_list("vip", OptIn.DOUBLE, "")
    news = await store.create_list("news", OptIn.SINGLE, "")
    for who in ("ann", "bob"):
        await store.add_subscriber(NewSubscriber(f"{who}@example.com", who), (vip.id,), UNCONFIRMED)
    await store.add_subscriber(NewSubscriber("cat@example.com", "cat"), (news.id,), UNCONFIRMED)
    return store


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


async def test_each_awaiting_subscriber_gets_one_confirmation() -> None:
    store = await _store()
    messenger = RecordingMessenger()
    mailer = optin.prepare(APP, SECRET)
    report = await optin.send_optins(store, messenger, mailer)
    assert (report.sent, report.failed) == (2, 0)
    assert sorted(s.recipients[0] for s in messenger.sent) == ["ann@example.com", "bob@example.com"]
    again = await optin.send_optins(store, messenger, mailer)
    assert (again.sent, len(messenger.calls)) == (0, 2)  # nobody twice

    msg = _parse(messenger.sent[0].message)
    assert msg["Subject"] == optin.DEFAULT_SUBJECT
    html = msg.get_body(("html",))
    assert html is not None
    links = re.findall(r'href="(https://news\.example/optin/[A-Za-z0-9_-]+)"', html.get_content())
    assert len(links) == 1


async def test_failed_sends_are_retried_next_time_and_unknown_ones_are_not() -> None:
    store = await _store()
    messenger = RecordingMessenger()
    messenger.script([OutcomeKind.PERMANENT, OutcomeKind.UNKNOWN])
    mailer = optin.prepare(APP, SECRET)
    report = await optin.send_optins(store, messenger, mailer)
    assert (report.sent, report.failed, report.unknown) == (0, 1, 1)
    report = await optin.send_optins(store, messenger, mailer)
    assert (report.sent, len(messenger.calls)) == (1, 3)
    assert messenger.calls[0].recipients == messenger.calls[2].recipients


async def test_an_authentication_failure_stops_the_run() -> None:
    store = await _store()
    messenger = RecordingMessenger()
    messenger.script([SendOutcome(OutcomeKind.PERMANENT, code=535, auth_failed=True)])
    with pytest.raises(MessengerError):
        await optin.send_optins(store, messenger, optin.prepare(APP, SECRET))
    assert len(messenger.calls) == 1


def test_templates_must_link_to_the_optin_url_and_compile() -> None:
    with pytest.raises(InvalidInput):
        optin.prepare(APP, SECRET, template="<p>hello</p>")
    with pytest.raises(TemplateError):
        optin.prepare(APP, SECRET, template="{{ optin_url() }} {% if %}")


async def test_the_link_in_the_message_confirms_and_makes_the_subscriber_eligible() -> None:
    store = await _store()
    messenger = RecordingMessenger()
    custom = '<p>Hi {{ subscriber.name }}: <a href="{{ optin_url() }}">yes</a></p>'
    mailer = optin.prepare(APP, SECRET, template=custom, subject="Confirm, {{ subscriber.name }}")
    await optin.send_optins(store, messenger, mailer)
    ann = next(s for s in messenger.sent if s.recipients == ("ann@example.com",))
    msg = _parse(ann.message)
    assert msg["Subject"] == "Confirm, Ann"  # the name made from the address
    html = msg.get_body(("html",))
    assert html is not None
    url = re.findall(r'href="https://news\.example(/optin/[^"]+)"', html.get_content())[0]

    campaign = await store.create_campaign(
        NewCampaign(name="c", subject="s", from_email="n@example.com", body="b", lists=("vip",)),
        None,
    )
    assert await store.populate_ledger(campaign.id, utcnow()) == 0  # nobody confirmed yet

    settings = Settings(security=SecuritySettings(secret=SecretStr(SECRET)))
    transport = httpx.ASGITransport(app=create_app(store, settings))
    async with httpx.AsyncClient(transport=transport, base_url="https://news.example") as client:
        assert (await client.get(url)).status_code == 200
        assert await store.populate_ledger(campaign.id, utcnow()) == 0  # GET confirms nothing
        assert (await client.post(url, data={"confirm": "yes"})).status_code == 200
    got = await store.get_subscriber("ann@example.com")
    assert [s.status for s in got.subscriptions] == [SubscriptionStatus.CONFIRMED]
    assert await store.populate_ledger(campaign.id, utcnow()) == 1  # ann only


async def test_the_link_names_the_pending_lists_it_was_sent_for() -> None:
    store = await _store()
    vip = await store.get_list("vip")
    club = await store.create_list("club", OptIn.DOUBLE, "")
    news = await store.get_list("news")
    await store.add_subscriber(
        NewSubscriber("dan@example.com", "dan"), (vip.id, club.id, news.id), UNCONFIRMED
    )
    messenger = RecordingMessenger()
    mailer = optin.prepare(APP, SECRET)
    await optin.send_optins(store, messenger, mailer, list_ids=[club.id])
    dan = next(s for s in messenger.sent if s.recipients == ("dan@example.com",))
    html = _parse(dan.message).get_body(("html",))
    assert html is not None
    token = re.findall(r'href="https://news\.example/optin/([^"]+)"', html.get_content())[0]
    assert verify(SECRET, "optin", token).list_ids == (club.id,)  # not vip: not asked for

    settings = Settings(security=SecuritySettings(secret=SecretStr(SECRET)))
    transport = httpx.ASGITransport(app=create_app(store, settings))
    async with httpx.AsyncClient(transport=transport, base_url="https://news.example") as client:
        r = await client.post(f"/optin/{token}", data={"confirm": "yes"})
        assert r.status_code == 200
    got = {
        s.list_name: s.status for s in (await store.get_subscriber(dan.recipients[0])).subscriptions
    }
    assert got == {"vip": UNCONFIRMED, "club": SubscriptionStatus.CONFIRMED, "news": UNCONFIRMED}
