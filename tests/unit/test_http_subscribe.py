"""POST /subscribe and the hosted form: no enumeration, honeypot, per-client limit, opt-in mail."""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from campaignd.config import AppSettings, SecuritySettings, Settings
from campaignd.domain import MailingList, NewSubscriber, OptIn, SubscriberStatus
from campaignd.domain import SubscriptionStatus as S
from campaignd.errors import NotFound
from campaignd.http.app import create_app
from campaignd.http.clientlimit import ClientLimiter
from campaignd.messengers.recording import RecordingMessenger
from campaignd.store.memory import MemoryStore

SECRET = "p" * 32
SETTINGS = Settings(
    security=SecuritySettings(secret=SecretStr(SECRET)),
    app=AppSettings(root_url="https://news.example", from_email="News <news@example.com>"),
)


@dataclass
class World:
    store: MemoryStore
    client: httpx.AsyncClient
    messenger: RecordingMessenger
    news: MailingList  # public, single opt-in
    vip: MailingList  # public, double opt-in
    secret_list: MailingList  # not public

    async def statuses(self, address: str) -> dict[str, S]:
        sub = await self.store.get_subscriber(address)
        return {s.list_name: s.status for s in sub.subscriptions}

    async def post(self, client: str = "198.51.100.1", **fields: Any) -> httpx.Response:
        return await self.client.post(
            "/subscribe", data=fields, headers={"X-Forwarded-For": client}
        )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "Weekly news", public=True)
    vip = await store.create_list("vip", OptIn.DOUBLE, "", public=True)
    hidden = await store.create_list("staff", OptIn.SINGLE, "")
    messenger = RecordingMessenger()
    app = create_app(
        store, SETTINGS, messenger=lambda: messenger, signups=ClientLimiter(limit=3, window=60)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://news.example") as client:
        yield World(store, client, messenger, news, vip, hidden)


async def test_the_hosted_form_of_a_public_list(world: World) -> None:
    r = await world.client.get(f"/subscribe/{world.news.uuid}")
    assert r.status_code == 200
    assert 'action="/subscribe"' in r.text and f'value="{world.news.uuid}"' in r.text
    assert 'name="nonce"' in r.text and "Weekly news" in r.text
    assert "<script" not in r.text and "http" not in r.text.split("<body>")[1]  # no assets
    assert "script-src" not in r.headers["content-security-policy"]
    for path in (
        f"/subscribe/{world.secret_list.uuid}",
        "/subscribe/nope",
        f"/subscribe/{'0' * 32}",
    ):
        got = await world.client.get(path)
        assert got.status_code == 404 and "not valid" in got.text


async def test_a_new_address_on_single_and_double_lists(world: World) -> None:
    r = await world.post(
        email="New.Person@Example.com",
        name="New Person",
        l=[str(world.news.uuid), str(world.vip.uuid)],
    )
    assert r.status_code == 200 and "Thank you" in r.text
    assert await world.statuses("new.person@example.com") == {
        "news": S.UNCONFIRMED,  # single opt-in: receives at once
        "vip": S.UNCONFIRMED,  # double: awaits the link
    }
    assert (await world.store.get_subscriber("new.person@example.com")).name == "New Person"
    [sent] = world.messenger.sent
    assert list(sent.recipients) == ["New.Person@example.com"]
    msg = email.message_from_bytes(sent.message, policy=email.policy.default)
    assert "https://news.example/optin/" in msg.as_string()


@pytest.mark.parametrize(
    ("name", "marker"),
    [
        ("WIN $1000 NOW at https://evil.example/claim", "evil.example"),
        ("Your account is locked: call +1 555 0100", "locked"),
        ("=?utf-8?b?c3BhbQ==?= <spam@evil.example>", "spam"),
    ],
)
async def test_the_name_given_is_not_mailed_to_the_address(
    world: World, name: str, marker: str
) -> None:
    """Anyone may sign up any address: the name typed in must not reach that address in our
    mail (To, subject, body), or the form sends their text from our domain to a stranger."""
    r = await world.post(email="victim@example.com", name=name, l=[str(world.vip.uuid)])
    assert r.status_code == 200
    assert (await world.store.get_subscriber("victim@example.com")).name == name  # kept
    [sent] = world.messenger.sent
    msg = email.message_from_bytes(sent.message, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            text = part.get_content()
            assert marker not in text and name not in text, text
    headers = "\n".join(f"{k}: {v}" for k, v in msg.items())
    assert marker not in headers and "c3BhbQ" not in headers, headers
    assert msg["To"] == "Victim <victim@example.com>"


async def test_private_and_unknown_lists_are_ignored_and_alone_refused(world: World) -> None:
    r = await world.post(email="a@example.com", l=[str(world.secret_list.uuid), "x"])
    assert r.status_code == 400 and "choose at least one list" in r.text
    with pytest.raises(NotFound):
        await world.store.get_subscriber("a@example.com")
    r = await world.post(
        email="a@example.com", l=[str(world.secret_list.uuid), str(world.news.uuid)]
    )
    assert r.status_code == 200
    assert await world.statuses("a@example.com") == {"news": S.UNCONFIRMED}


async def test_bad_input_is_refused_and_changes_nothing(world: World) -> None:
    lists = [str(world.news.uuid)]
    for fields, problem in (
        ({"email": "not an address", "l": lists}, "address"),
        ({"email": "", "l": lists}, "empty"),
        ({"email": "b@example.com", "name": "x\u0000y", "l": lists}, "control"),
        ({"email": "b@example.com", "name": "n" * 300, "l": lists}, "longer"),
    ):
        r = await world.post(client=problem, **fields)
        assert r.status_code == 400 and problem in r.text, (fields, r.text)
    assert await world.store.lists() and not world.store._subs  # nobody was added
    r = await world.client.post(
        "/subscribe", content=b"<xml/>", headers={"Content-Type": "text/xml"}
    )
    assert r.status_code == 400


async def test_the_same_answer_whatever_the_address(world: World) -> None:
    """New, known (confirmed), blocklisted, and a filled honeypot: byte-identical answers."""
    news = world.news
    known = await world.store.add_subscriber(
        NewSubscriber("known@example.com", "K"), (news.id,), S.CONFIRMED
    )
    await world.store.add_subscriber(NewSubscriber("blocked@example.com", "B"), (), S.CONFIRMED)
    await world.store.set_subscriber_status("blocked@example.com", SubscriberStatus.BLOCKLISTED)
    answers = []
    for i, fields in enumerate(
        (
            {"email": "fresh@example.com"},
            {"email": "known@example.com", "name": "Someone Else"},
            {"email": "blocked@example.com"},
            {"email": "bot@example.com", "nonce": "http://spam.example"},
        )
    ):
        r = await world.post(
            client=f"203.0.113.{i}", l=[str(news.uuid), str(world.vip.uuid)], **fields
        )
        answers.append((r.status_code, r.content, sorted(r.headers.items())))
    assert all(a == answers[0] for a in answers)
    # Behind the identical answers: the known one keeps its name and confirmed status ...
    after = await world.store.get_subscriber("known@example.com")
    assert after.name == "K" and after.id == known.id
    assert await world.statuses("known@example.com") == {"news": S.CONFIRMED, "vip": S.UNCONFIRMED}
    # ... the blocklisted one is left alone, the bot was not added.
    assert await world.statuses("blocked@example.com") == {}
    with pytest.raises(NotFound):
        await world.store.get_subscriber("bot@example.com")
    assert sorted(s.recipients[0] for s in world.messenger.sent) == [
        "fresh@example.com",
        "known@example.com",
    ]


async def test_json_requests(world: World) -> None:
    body = {"email": "j@example.com", "lists": [str(world.news.uuid)]}
    r = await world.client.post("/subscribe", json=body)
    assert r.status_code == 200 and "message" in r.json()
    assert await world.statuses("j@example.com") == {"news": S.UNCONFIRMED}
    again = await world.client.post("/subscribe", json={**body, "email": "other@example.com"})
    assert again.content == r.content
    bad = await world.client.post("/subscribe", json={"email": "j@example.com", "lists": "x"})
    assert bad.status_code == 400 and "error" in bad.json()
    bad = await world.client.post(
        "/subscribe",
        content=b"{",
        headers={"Content-Type": "application/json", "X-Forwarded-For": "192.0.2.99"},
    )
    assert bad.status_code == 400
    assert json.loads(bad.content)["error"].startswith("the body is not valid JSON")
    twice = b'{"email": "x@example.com", "email": "y@example.com", "lists": ["%s"]}'
    bad = await world.client.post(
        "/subscribe",
        content=twice % str(world.news.uuid).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": "192.0.2.98"},
    )
    assert bad.status_code == 400 and "given twice" in json.loads(bad.content)["error"]
    for who in ("x@example.com", "y@example.com"):
        with pytest.raises(NotFound):
            await world.store.get_subscriber(who)


async def test_each_client_is_limited(world: World) -> None:
    lists = [str(world.news.uuid)]
    for i in range(3):
        r = await world.post(client="192.0.2.7", email=f"r{i}@example.com", l=lists)
        assert r.status_code == 200
    r = await world.post(client="192.0.2.7", email="r9@example.com", l=lists)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    with pytest.raises(NotFound):
        await world.store.get_subscriber("r9@example.com")
    other = await world.post(client="192.0.2.8", email="r9@example.com", l=lists)
    assert other.status_code == 200  # another client is not affected


def test_the_limiter_window_slides() -> None:
    now = [0.0]
    limiter = ClientLimiter(limit=2, window=10, clock=lambda: now[0])
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    assert limiter.hit("a") == pytest.approx(10)
    now[0] = 10.5
    assert limiter.hit("a") == 0
    assert re.fullmatch(r"[0-9.]+", str(limiter.hit("b")))


async def test_the_form_posts_under_root_urls_path(world: World) -> None:
    prefixed = SETTINGS.model_copy(
        update={"app": SETTINGS.app.model_copy(update={"root_url": "https://x.example/news"})}
    )
    transport = httpx.ASGITransport(app=create_app(world.store, prefixed))
    async with httpx.AsyncClient(transport=transport, base_url="https://x.example") as client:
        r = await client.get(f"/subscribe/{world.news.uuid}")
    assert 'action="/news/subscribe"' in r.text


async def test_one_address_gets_few_confirmations_whoever_asks(world: World) -> None:
    for i in range(5):
        r = await world.post(
            client=f"10.0.0.{i}", email="target@example.com", l=[str(world.vip.uuid)]
        )
        assert r.status_code == 200
    assert len(world.messenger.sent) == 3  # CONFIRMATIONS_PER_HOUR
    await world.post(client="10.0.1.1", email="other@example.com", l=[str(world.vip.uuid)])
    assert len(world.messenger.sent) == 4
