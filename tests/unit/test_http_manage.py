"""The preference page of {{ manage_url() }}: GET shows, POST changes; bad tokens change nothing."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from campaignd.config import AppSettings, SecuritySettings, Settings
from campaignd.domain import (
    MailingList,
    NewCampaign,
    NewSubscriber,
    OptIn,
    Recipient,
    Subscriber,
)
from campaignd.domain import SubscriptionStatus as S
from campaignd.errors import NotFound
from campaignd.http.app import create_app
from campaignd.messengers.recording import RecordingMessenger
from campaignd.rendering.compose import CampaignMailer
from campaignd.rendering.tokens import sign
from campaignd.store.memory import MemoryStore

SECRET = "m" * 32
OLD_SECRET = "o" * 32
T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
APP = AppSettings(root_url="https://news.example", from_email="News <news@example.com>")


def settings(previous: tuple[str, ...] = ()) -> Settings:
    return Settings(
        security=SecuritySettings(
            secret=SecretStr(SECRET), previous_secrets=[SecretStr(p) for p in previous]
        ),
        app=APP,
    )


@dataclass
class World:
    store: MemoryStore
    client: httpx.AsyncClient
    messenger: RecordingMessenger
    sub: Subscriber
    news: MailingList
    vip: MailingList
    staff: MailingList

    @property
    def path(self) -> str:
        return f"/manage/{sign(SECRET, 'manage', self.sub.uuid)}"

    async def state(self) -> tuple[str, dict[str, S]]:
        sub = await self.store.get_subscriber_by_uuid(self.sub.uuid)
        return sub.name, {s.list_name: s.status for s in sub.subscriptions}


@pytest.fixture
async def world() -> AsyncIterator[World]:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "", public=True)
    vip = await store.create_list("vip", OptIn.DOUBLE, "", public=True)
    staff = await store.create_list("staff", OptIn.SINGLE, "")
    sub = await store.add_subscriber(
        NewSubscriber("ann@example.com", "Ann", {"city": "Oslo"}), (news.id, staff.id), S.CONFIRMED
    )
    messenger = RecordingMessenger()
    app = create_app(store, settings((OLD_SECRET,)), messenger=lambda: messenger)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://news.example") as client:
        yield World(store, client, messenger, sub, news, vip, staff)


async def test_get_shows_name_and_public_lists_and_changes_nothing(world: World) -> None:
    before = await world.state()
    r = await world.client.get(world.path)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert 'value="Ann"' in r.text and "ann@example.com" in r.text
    assert f'value="{world.news.uuid}" checked' in r.text
    assert f'value="{world.vip.uuid}">' in r.text  # not ticked
    assert "staff" not in r.text  # not public: never shown
    assert await world.state() == before


async def test_save_renames_and_changes_public_lists_only(world: World) -> None:
    r = await world.client.post(
        world.path, data={"action": "save", "name": " Ann  Other ", "l": [str(world.vip.uuid)]}
    )
    assert r.status_code == 200
    assert await world.state() == (
        "Ann Other",
        {"news": S.UNSUBSCRIBED, "vip": S.UNCONFIRMED, "staff": S.CONFIRMED},
    )
    [sent] = world.messenger.sent  # vip is double opt-in: a confirmation went out
    assert (
        "/optin/" in email.message_from_bytes(sent.message, policy=email.policy.default).as_string()
    )
    # Ticking news again resubscribes it.
    await world.client.post(
        world.path,
        data={
            "action": "save",
            "name": "Ann Other",
            "l": [str(world.vip.uuid), str(world.news.uuid)],
        },
    )
    assert (await world.state())[1]["news"] is S.UNCONFIRMED


async def test_a_bad_name_changes_nothing(world: World) -> None:
    before = await world.state()
    for name in ("", "x\u0007", "n" * 300):
        r = await world.client.post(world.path, data={"action": "save", "name": name, "l": []})
        assert r.status_code == 400 and "Nothing was changed" in r.text
    assert await world.state() == before
    r = await world.client.post(world.path, data={"action": "explode"})
    assert r.status_code == 400
    assert await world.state() == before


async def test_download_my_data(world: World) -> None:
    campaign = await world.store.create_campaign(
        NewCampaign(name="May", subject="s", from_email="n@example.com", body="b", lists=("news",)),
        None,
    )
    await world.store.populate_ledger(campaign.id, dt.datetime.now(dt.UTC))
    await world.store.add_bounce(world.sub.id, campaign.id, "soft", "smtp", "452 full", T0)
    r = await world.client.post(world.path, data={"action": "data"})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    data = json.loads(r.content)  # the shape of `subscribers export-data`
    profile = data["profile"]
    assert profile["email"] == "ann@example.com" and profile["attributes"] == {"city": "Oslo"}
    assert {(s["list_name"], s["status"]) for s in data["subscriptions"]} == {
        ("news", "confirmed"),
        ("staff", "confirmed"),
    }
    assert [(c["campaign_name"], c["status"]) for c in data["ledger"]] == [("May", "pending")]
    assert [(b["type"], b["source"], b["reason"]) for b in data["bounces"]] == [
        ("soft", "smtp", "452 full")
    ]


async def test_delete_asks_first_then_deletes(world: World) -> None:
    r = await world.client.post(world.path, data={"action": "delete"})
    assert r.status_code == 200 and 'value="delete-confirmed"' in r.text
    assert (await world.state())[0] == "Ann"  # still there
    r = await world.client.post(world.path, data={"action": "delete-confirmed"})
    assert r.status_code == 200 and "deleted" in r.text
    with pytest.raises(NotFound):
        await world.store.get_subscriber("ann@example.com")
    gone = await world.client.get(world.path)
    assert gone.status_code == 404


@pytest.mark.parametrize(
    "token",
    [
        "forged",
        sign(SECRET, "unsub", uuid.uuid4()),
        sign("z" * 32, "manage", uuid.uuid4()),  # a secret never configured
    ],
    ids=["forged", "other-purpose", "unknown-secret"],
)
async def test_unusable_tokens_get_404_and_change_nothing(world: World, token: str) -> None:
    before = await world.state()
    for method, data in (
        ("GET", None),
        ("POST", {"action": "save", "name": "X", "l": []}),
        ("POST", {"action": "delete-confirmed"}),
    ):
        r = await world.client.request(method, f"/manage/{token}", data=data)
        assert r.status_code == 404 and "not valid" in r.text
    assert await world.state() == before


async def test_other_tokens_of_the_subscriber_are_not_manage_tokens(world: World) -> None:
    before = await world.state()
    for purpose in ("unsub", "optin", "archive"):
        token = sign(SECRET, purpose, world.sub.uuid)
        r = await world.client.post(f"/manage/{token}", data={"action": "delete-confirmed"})
        assert r.status_code == 404
    assert await world.state() == before


async def test_rotated_secrets_verify_until_dropped(world: World) -> None:
    old = f"/manage/{sign(OLD_SECRET, 'manage', world.sub.uuid)}"
    assert (await world.client.get(old)).status_code == 200
    app = create_app(world.store, settings())  # OLD_SECRET dropped: the link has expired
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://news.example") as client:
        r = await client.post(old, data={"action": "delete-confirmed"})
    assert r.status_code == 404
    assert (await world.state())[0] == "Ann"


async def test_manage_url_in_a_campaign_opens_the_page(world: World) -> None:
    campaign = await world.store.create_campaign(
        NewCampaign(
            name="c", subject="s", from_email="n@example.com",
            body='<a href="{{ manage_url() }}">Preferences</a>', lists=("news",),
        ),
        None,
    )  # fmt: skip
    mailer = CampaignMailer.prepare(campaign, None, APP, SECRET)
    sub = world.sub
    recipient = Recipient(0, 0, sub.id, sub.uuid, sub.email, sub.name, {}, 0)
    _, raw = mailer.build(recipient, dt.datetime.now(dt.UTC))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    html = msg.get_body(("html",))
    assert html is not None
    [url] = re.findall(r'href="(https://news\.example/manage/[A-Za-z0-9_-]+)"', html.get_content())
    r = await world.client.get(url)
    assert r.status_code == 200 and "ann@example.com" in r.text
