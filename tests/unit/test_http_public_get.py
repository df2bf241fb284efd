"""GET never changes anything: every public page fetched (as a link scanner would), with good
and bad tokens, leaves every subscriber and subscription as it was."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from campaignd.config import SecuritySettings, Settings
from campaignd.domain import CampaignStatus, NewCampaign, NewSubscriber, OptIn
from campaignd.domain import SubscriptionStatus as S
from campaignd.http.app import create_app
from campaignd.rendering.tokens import sign, sign_lists
from campaignd.store.memory import MemoryStore

SECRET = "g" * 32


async def snapshot(store: MemoryStore) -> Any:
    subs = [await store.get_subscriber(a) for a in ("ann@example.com", "bob@example.com")]
    return [(s.name, s.status, s.subscriptions) for s in subs], await store.lists()


async def test_get_on_every_public_page_changes_nothing() -> None:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "", public=True)
    vip = await store.create_list("vip", OptIn.DOUBLE, "", public=True)
    ann = await store.add_subscriber(
        NewSubscriber("ann@example.com", "Ann"), (news.id,), S.CONFIRMED
    )
    bob = await store.add_subscriber(
        NewSubscriber("bob@example.com", "Bob"), (vip.id,), S.UNCONFIRMED
    )
    made = await store.create_campaign(
        NewCampaign(
            name="c",
            subject="s",
            from_email="n@example.com",
            body="b",
            lists=("news",),
            archive=True,
        ),
        None,
    )
    now = made.created_at
    await store.transition(
        made.id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=now
    )
    before = await snapshot(store)
    paths = [
        f"/subscribe/{news.uuid}",
        f"/subscribe/{vip.uuid}",
        f"/manage/{sign(SECRET, 'manage', ann.uuid)}",
        f"/manage/{sign(SECRET, 'manage', bob.uuid)}",
        f"/archive/{made.uuid}",
        f"/archive/{made.uuid}/{sign(SECRET, 'archive', ann.uuid, made.uuid)}",
        f"/archive/list/{news.uuid}",
        f"/unsubscribe/{sign(SECRET, 'unsub', ann.uuid, made.uuid)}",
        f"/optin/{sign_lists(SECRET, 'optin', bob.uuid, [vip.id])}",
        "/manage/forged",
        "/subscribe",
    ]
    transport = httpx.ASGITransport(
        app=create_app(store, Settings(security=SecuritySettings(secret=SecretStr(SECRET))))
    )
    async with httpx.AsyncClient(transport=transport, base_url="https://news.example") as client:
        statuses = [(await client.get(p)).status_code for p in paths]
        heads = [(await client.head(p)).status_code for p in paths[:7]]
    assert statuses == [200] * 9 + [404, 405]
    assert heads == [200] * 7
    assert await snapshot(store) == before
