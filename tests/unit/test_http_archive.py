"""The public archive: sample data, the subscriber's own data by signed link, the list index."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from campaignd.config import AppSettings, SecuritySettings, Settings
from campaignd.domain import (
    Campaign,
    CampaignStatus,
    MailingList,
    NewCampaign,
    NewSubscriber,
    OptIn,
    Recipient,
    Subscriber,
    SubscriptionStatus,
)
from campaignd.http.app import create_app
from campaignd.rendering.compose import CampaignMailer
from campaignd.rendering.tokens import sign
from campaignd.store.memory import MemoryStore

SECRET = "a" * 32
APP = AppSettings(root_url="https://news.example", from_email="News <news@example.com>")
SETTINGS = Settings(security=SecuritySettings(secret=SecretStr(SECRET)), app=APP)
BODY = (
    "<p>Hello {{ subscriber.name }} from {{ subscriber.attributes.city }}</p>"
    '<p><a href="{{ archive_url() }}">View in browser</a></p>'
)
T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


@dataclass
class World:
    store: MemoryStore
    client: httpx.AsyncClient
    news: MailingList
    hidden: MailingList
    sub: Subscriber

    async def campaign(
        self,
        name: str,
        status: CampaignStatus,
        *,
        archive: bool = True,
        lists: tuple[str, ...] = ("news",),
    ) -> Campaign:
        made = await self.store.create_campaign(
            NewCampaign(
                name=name, subject=f"Issue {name}", from_email="n@example.com", body=BODY,
                lists=("news",), archive=archive,
            ),
            None,
        )  # fmt: skip
        path = {
            CampaignStatus.DRAFT: [],
            CampaignStatus.SCHEDULED: [CampaignStatus.SCHEDULED],
            CampaignStatus.RUNNING: [CampaignStatus.RUNNING],
            CampaignStatus.PAUSED: [CampaignStatus.RUNNING, CampaignStatus.PAUSED],
            CampaignStatus.CANCELLED: [CampaignStatus.RUNNING, CampaignStatus.CANCELLED],
            CampaignStatus.FINISHED: [CampaignStatus.RUNNING, CampaignStatus.FINISHED],
        }[status]
        for to in path:
            made = await self.store.transition(
                made.id, frozenset({made.status}), to, now=T0, send_at=T0
            )
        return made


@pytest.fixture
async def world() -> AsyncIterator[World]:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "The news", public=True)
    hidden = await store.create_list("hidden", OptIn.SINGLE, "")
    sub = await store.add_subscriber(
        NewSubscriber("ann@example.com", "Ann <b>", {"city": "Oslo"}),
        (news.id,),
        SubscriptionStatus.CONFIRMED,
    )
    transport = httpx.ASGITransport(app=create_app(store, SETTINGS))
    async with httpx.AsyncClient(transport=transport, base_url="https://news.example") as client:
        yield World(store, client, news, hidden, sub)


async def test_sample_data_for_everyone(world: World) -> None:
    c = await world.campaign("1", CampaignStatus.FINISHED)
    r = await world.client.get(f"/archive/{c.uuid}")
    assert r.status_code == 200
    assert "Hello Sam Sample from [city]" in r.text
    assert "ann@example.com" not in r.text and "Oslo" not in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src" not in csp and csp.startswith("default-src 'none'")


async def test_the_subscribers_own_data_through_archive_url(world: World) -> None:
    c = await world.campaign("1", CampaignStatus.RUNNING)
    mailer = CampaignMailer.prepare(c, None, APP, SECRET)
    s = world.sub
    _, raw = mailer.build(Recipient(0, 0, s.id, s.uuid, s.email, s.name, {"city": "Oslo"}, 0), T0)
    html = email.message_from_bytes(raw, policy=email.policy.default).get_body(("html",))
    assert html is not None
    [url] = re.findall(r'href="(https://news\.example/archive/[^"]+)"', html.get_content())
    r = await world.client.get(url)
    assert r.status_code == 200
    assert "Hello Ann &lt;b&gt; from Oslo" in r.text  # escaped, the subscriber's own data


async def test_only_archived_running_or_finished_campaigns(world: World) -> None:
    hidden = [
        await world.campaign("draft", CampaignStatus.DRAFT),
        await world.campaign("paused", CampaignStatus.PAUSED),
        await world.campaign("cancelled", CampaignStatus.CANCELLED),
        await world.campaign("scheduled", CampaignStatus.SCHEDULED),
        await world.campaign("private", CampaignStatus.FINISHED, archive=False),
    ]
    shown = await world.campaign("shown", CampaignStatus.FINISHED)
    for c in hidden:
        r = await world.client.get(f"/archive/{c.uuid}")
        assert r.status_code == 404 and "not valid" in r.text, c.name
        own = await world.client.get(
            f"/archive/{c.uuid}/{sign(SECRET, 'archive', world.sub.uuid, c.uuid)}"
        )
        assert own.status_code == 404
    assert (await world.client.get(f"/archive/{shown.uuid}")).status_code == 200
    index = await world.client.get(f"/archive/list/{world.news.uuid}")
    assert index.status_code == 200
    assert f'href="/archive/{shown.uuid}"' in index.text and "Issue shown" in index.text
    assert all(str(c.uuid) not in index.text for c in hidden)


async def test_bad_links_get_404(world: World) -> None:
    c = await world.campaign("1", CampaignStatus.FINISHED)
    other = await world.campaign("2", CampaignStatus.FINISHED)
    for path in (
        f"/archive/{uuid.uuid4()}",
        "/archive/not-a-uuid",
        f"/archive/{c.uuid}/forged-token-forged-token-forged-token-forged",
        f"/archive/{c.uuid}/{sign(SECRET, 'archive', world.sub.uuid, other.uuid)}",  # other's
        f"/archive/{c.uuid}/{sign(SECRET, 'unsub', world.sub.uuid, c.uuid)}",  # wrong purpose
        f"/archive/{c.uuid}/{sign('x' * 32, 'archive', world.sub.uuid, c.uuid)}",  # wrong key
        f"/archive/{c.uuid}/{sign(SECRET, 'archive', uuid.uuid4(), c.uuid)}",  # nobody
        f"/archive/list/{world.hidden.uuid}",  # not public
        f"/archive/list/{uuid.uuid4()}",
    ):
        r = await world.client.get(path)
        assert r.status_code == 404, path
