"""Unsubscribe and opt-in links through the ASGI app on the in-memory store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from campaignd.config import SecuritySettings, Settings
from campaignd.domain import ImportOptions, NewCampaign, NewSubscriber, OptIn, SubscriptionStatus
from campaignd.errors import StoreError
from campaignd.http.app import create_app
from campaignd.rendering.tokens import sign, sign_lists
from campaignd.store.memory import MemoryStore

SECRET = "s3cret-for-tests-only-0123456789"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@dataclass
class World:
    store: MemoryStore
    client: httpx.AsyncClient
    sub_uuid: uuid.UUID
    campaign_uuid: uuid.UUID

    async def statuses(self, email: str = "ann@example.com") -> dict[str, SubscriptionStatus]:
        sub = await self.store.get_subscriber(email)
        return {s.list_name: s.status for s in sub.subscriptions}


def settings() -> Settings:
    return Settings(security=SecuritySettings(secret=SecretStr(SECRET)))


@pytest.fixture
async def world() -> AsyncIterator[World]:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "")
    other = await store.create_list("other", OptIn.SINGLE, "")
    vip = await store.create_list("vip", OptIn.DOUBLE, "")
    sub = await store.add_subscriber(
        NewSubscriber("ann@example.com", "Ann <script>"),
        (news.id, other.id, vip.id),
        SubscriptionStatus.UNCONFIRMED,
    )
    campaign = await store.create_campaign(
        NewCampaign(name="c", subject="s", from_email="a@example.com", body="b", lists=("news",)),
        None,
    )
    app = create_app(store, settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://news.example") as client:
        yield World(store, client, sub.uuid, campaign.uuid)


def unsub_path(w: World, campaign: uuid.UUID | None = None) -> str:
    return f"/unsubscribe/{sign(SECRET, 'unsub', w.sub_uuid, campaign or w.campaign_uuid)}"


async def test_get_shows_a_page_and_changes_nothing(world: World) -> None:
    before = await world.statuses()
    r = await world.client.get(unsub_path(world))
    assert r.status_code == 200
    assert 'method="post"' in r.text
    assert 'name="List-Unsubscribe" value="One-Click"' in r.text
    assert "set-cookie" not in r.headers
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "ann@example.com" not in r.text and "<script>" not in r.text
    assert await world.statuses() == before


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
async def test_one_click_post_unsubscribes_from_the_campaigns_lists(
    world: World, encoding: str
) -> None:
    if encoding == "urlencoded":
        r = await world.client.post(unsub_path(world), data=ONE_CLICK)
    else:
        r = await world.client.post(
            unsub_path(world), files={"List-Unsubscribe": (None, "One-Click")}
        )
    assert r.status_code == 200
    assert "location" not in r.headers and "set-cookie" not in r.headers
    assert await world.statuses() == {
        "news": SubscriptionStatus.UNSUBSCRIBED,
        "other": SubscriptionStatus.UNCONFIRMED,
        "vip": SubscriptionStatus.UNCONFIRMED,
    }
    again = await world.client.post(unsub_path(world), data=ONE_CLICK)
    assert again.status_code == 200  # idempotent


async def test_unknown_campaign_unsubscribes_from_every_list(world: World) -> None:
    r = await world.client.post(unsub_path(world, uuid.uuid4()), data=ONE_CLICK)
    assert r.status_code == 200
    assert set((await world.statuses()).values()) == {SubscriptionStatus.UNSUBSCRIBED}


async def test_post_without_the_one_click_field_changes_nothing(world: World) -> None:
    before = await world.statuses()
    for data in ({}, {"List-Unsubscribe": "yes"}):
        r = await world.client.post(unsub_path(world), data=data)
        assert r.status_code == 400
    r = await world.client.post(
        unsub_path(world),
        content=b'{"List-Unsubscribe": "One-Click"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert await world.statuses() == before


async def test_every_unusable_token_gets_the_same_answer(world: World) -> None:
    good = sign(SECRET, "unsub", world.sub_uuid, world.campaign_uuid)
    flipped = good[:10] + ("A" if good[10] != "A" else "B") + good[11:]
    bad_tokens = [
        flipped,
        good[:-1],
        good + "A",
        "garbage",
        "x" * 60,
        sign(SECRET, "optin", world.sub_uuid),  # another purpose
        sign("another-secret-0123456789abcdef", "unsub", world.sub_uuid, world.campaign_uuid),
        sign(SECRET, "unsub", uuid.uuid4(), world.campaign_uuid),  # no such subscriber
    ]
    answers = set()
    for token in bad_tokens:
        for method in ("GET", "POST"):
            r = await world.client.request(
                method, f"/unsubscribe/{token}", data=ONE_CLICK if method == "POST" else None
            )
            assert r.status_code == 404
            answers.add(r.text)
    assert len(answers) == 1
    assert SECRET not in answers.pop()
    assert set((await world.statuses()).values()) == {SubscriptionStatus.UNCONFIRMED}


async def test_oversized_bodies_are_refused(world: World) -> None:
    r = await world.client.post(
        unsub_path(world), data={"List-Unsubscribe": "One-Click", "pad": "x" * 100_000}
    )
    assert r.status_code == 413
    assert (await world.statuses())["news"] is SubscriptionStatus.UNCONFIRMED


async def optin_path(w: World, *lists: str, secret: str = SECRET) -> str:
    ids = [(await w.store.get_list(name)).id for name in lists]
    return f"/optin/{sign_lists(secret, 'optin', w.sub_uuid, ids)}"


async def test_optin_confirms_on_post_only(world: World) -> None:
    path = await optin_path(world, "vip")
    r = await world.client.get(path)
    assert r.status_code == 200 and 'name="confirm"' in r.text
    assert (await world.statuses())["vip"] is SubscriptionStatus.UNCONFIRMED

    r = await world.client.post(path, data={})
    assert r.status_code == 400
    assert (await world.statuses())["vip"] is SubscriptionStatus.UNCONFIRMED

    r = await world.client.post(path, data={"confirm": "yes"})
    assert r.status_code == 200 and "location" not in r.headers
    assert await world.statuses() == {
        "news": SubscriptionStatus.UNCONFIRMED,  # single opt-in lists need no confirmation
        "other": SubscriptionStatus.UNCONFIRMED,
        "vip": SubscriptionStatus.CONFIRMED,
    }


async def test_an_unsubscribe_token_does_not_confirm(world: World) -> None:
    token = sign(SECRET, "unsub", world.sub_uuid)
    r = await world.client.post(f"/optin/{token}", data={"confirm": "yes"})
    assert r.status_code == 404
    assert (await world.statuses())["vip"] is SubscriptionStatus.UNCONFIRMED


class _BrokenStore(MemoryStore):
    async def get_subscriber_by_uuid(self, subscriber_uuid: uuid.UUID) -> Any:
        raise StoreError("database error on postgresql://campaignd:hunter2@db/campaignd")


async def test_a_database_failure_is_a_503_that_names_nothing() -> None:
    app = create_app(_BrokenStore(), settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get(f"/unsubscribe/{sign(SECRET, 'unsub', uuid.uuid4())}")
    assert r.status_code == 503
    assert "hunter2" not in r.text and "postgresql" not in r.text


async def test_oversized_chunked_bodies_are_refused(world: World) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"List-Unsubscribe=One-Click&pad="
        for _ in range(40):
            yield b"x" * 1024

    r = await world.client.post(
        unsub_path(world),
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert "content-length" not in r.request.headers
    assert r.status_code == 413
    assert (await world.statuses())["news"] is SubscriptionStatus.UNCONFIRMED


async def test_an_optin_link_confirms_only_the_lists_it_names(world: World) -> None:
    path = await optin_path(world, "vip")  # sent while ann awaited vip only
    later = await world.store.create_list("later", OptIn.DOUBLE, "")
    await world.store.import_batch(  # added afterwards: needs its own consent
        [NewSubscriber("ann@example.com", "Ann")],
        ImportOptions(list_ids=(later.id,), status=SubscriptionStatus.UNCONFIRMED),
    )
    assert (await world.statuses())["later"] is SubscriptionStatus.UNCONFIRMED
    assert (await world.client.post(path, data={"confirm": "yes"})).status_code == 200
    statuses = await world.statuses()
    assert statuses["vip"] is SubscriptionStatus.CONFIRMED
    assert statuses["later"] is SubscriptionStatus.UNCONFIRMED


async def test_an_optin_link_that_names_no_list_is_not_valid(world: World) -> None:
    old_format = f"/optin/{sign(SECRET, 'optin', world.sub_uuid)}"
    for method in ("GET", "POST"):
        r = await world.client.request(method, old_format, data={"confirm": "yes"})
        assert r.status_code == 404
    assert (await world.statuses())["vip"] is SubscriptionStatus.UNCONFIRMED


async def test_links_signed_with_a_previous_secret_keep_working_after_rotation() -> None:
    old, new = "the-old-secret-0123456789", "the-new-secret-0123456789"
    store = MemoryStore()
    vip = await store.create_list("vip", OptIn.DOUBLE, "")
    news = await store.create_list("news", OptIn.SINGLE, "")
    sub = await store.add_subscriber(
        NewSubscriber("ann@example.com", "Ann"), (vip.id, news.id), SubscriptionStatus.UNCONFIRMED
    )
    rotated = Settings(
        security=SecuritySettings(secret=SecretStr(new), previous_secrets=(SecretStr(old),))
    )
    forgotten = Settings(security=SecuritySettings(secret=SecretStr(new)))
    optin_old = f"/optin/{sign_lists(old, 'optin', sub.uuid, [vip.id])}"
    unsub_old = f"/unsubscribe/{sign(old, 'unsub', sub.uuid)}"
    unsub_other = f"/unsubscribe/{sign('some-other-secret-0123456789', 'unsub', sub.uuid)}"
    for s, expected in ((forgotten, 404), (rotated, 200)):
        transport = httpx.ASGITransport(app=create_app(store, s))
        async with httpx.AsyncClient(transport=transport, base_url="https://x") as client:
            assert (await client.post(optin_old, data={"confirm": "yes"})).status_code == expected
            confirmed = {
                s.list_name: s.status for s in (await store.get_subscriber(sub.email)).subscriptions
            }
            assert (confirmed["vip"] is SubscriptionStatus.CONFIRMED) is (expected == 200)
            assert (await client.post(unsub_other, data=ONE_CLICK)).status_code == 404
            assert (await client.post(unsub_old, data=ONE_CLICK)).status_code == expected
    got = {s.list_name: s.status for s in (await store.get_subscriber(sub.email)).subscriptions}
    assert got == {"vip": SubscriptionStatus.UNSUBSCRIBED, "news": SubscriptionStatus.UNSUBSCRIBED}
