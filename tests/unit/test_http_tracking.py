"""Tracking endpoints through the ASGI app on the in-memory store: redirects, pixel, machines."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from campaignd.campaigns.hits import HitRecorder, MachineRules, Request
from campaignd.config import HttpSettings, SecuritySettings, Settings, TrackingSettings
from campaignd.domain import Hit, HitKind, TrackingMode
from campaignd.http.app import create_app
from campaignd.rendering.tracking import TrackTokens
from campaignd.store.memory import MemoryStore

SECRET = "s3cret-for-tests-only-0123456789"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SENT = int(T0.timestamp()) - 3600  # built an hour before the hits: no prefetch
HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Thunderbird/128.0"}
SHOP = "https://shop.example/a?x=1&y=2"


@dataclass
class World:
    store: MemoryStore
    hits: HitRecorder
    client: httpx.AsyncClient
    tokens: TrackTokens
    now: list[dt.datetime]


def make_settings(mode: TrackingMode = TrackingMode.ANONYMOUS) -> Settings:
    return Settings(
        security=SecuritySettings(secret=SecretStr(SECRET)),
        tracking=TrackingSettings(mode=mode),
        http=HttpSettings(proxy_addresses=("127.0.0.1",)),
    )


async def make_world(mode: TrackingMode) -> tuple[World, httpx.AsyncClient]:
    store = MemoryStore()
    settings = make_settings(mode)
    hits = HitRecorder(store, settings.tracking)
    now = [T0]
    app = create_app(store, settings, clock=lambda: now[0], hits=hits)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1234))
    client = httpx.AsyncClient(transport=transport, base_url="https://news.example")
    return World(store, hits, client, TrackTokens(SECRET), now), client


@pytest.fixture(params=[TrackingMode.ANONYMOUS, TrackingMode.INDIVIDUAL])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    w, client = await make_world(request.param)
    async with client:
        yield w


def click_path(w: World, url: str = SHOP, subscriber: int | None = 5) -> str:
    return f"/t/c/{w.tokens.sign(HitKind.CLICK, 7, SENT, subscriber, url)}"


def open_path(w: World, subscriber: int | None = 5, built: int = SENT) -> str:
    return f"/t/o/{w.tokens.sign(HitKind.OPEN, 7, built, subscriber)}"


async def test_a_click_redirects_to_its_target_and_is_counted(world: World) -> None:
    r = await world.client.get(click_path(world), headers=HUMAN)
    assert r.status_code == 302 and r.headers["location"] == SHOP
    assert r.headers["referrer-policy"] == "no-referrer"
    assert await world.hits.flush() == 1
    (count,) = await world.store.hit_counts(7)
    assert (count.kind, count.machine, count.url, count.hits) == (HitKind.CLICK, False, SHOP, 1)


async def test_the_pixel_is_a_gif_and_counts_an_open(world: World) -> None:
    r = await world.client.get(open_path(world), headers=HUMAN)
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    assert r.content.startswith(b"GIF89a")
    await world.hits.flush()
    (count,) = await world.store.hit_counts(7)
    assert (count.kind, count.machine, count.hits) == (HitKind.OPEN, False, 1)


async def test_privacy_mode_decides_whether_the_subscriber_is_kept(world: World) -> None:
    await world.client.get(open_path(world, subscriber=5), headers=HUMAN)
    await world.hits.flush()
    people = await world.store.unique_hitters(7)
    if world.hits.mode is TrackingMode.ANONYMOUS:
        assert people == {}  # the token named subscriber 5: anonymous mode forgets it
    else:
        assert people == {(HitKind.OPEN, False): 1}


@pytest.mark.parametrize(
    "path",
    [
        "/t/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/t/c/not-a-token",
        "/t/o/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
)
async def test_a_forged_token_gets_404_and_no_redirect(world: World, path: str) -> None:
    r = await world.client.get(path)
    assert r.status_code == 404 and "location" not in r.headers
    assert world.hits.backlog == 0


async def test_a_token_with_its_target_changed_is_refused(world: World) -> None:
    good = world.tokens.sign(HitKind.CLICK, 7, SENT, None, "https://shop.example/")
    evil = world.tokens.sign(HitKind.CLICK, 7, SENT, None, "https://evil.example/")
    r = await world.client.get(f"/t/c/{evil[:-22]}{good[-22:]}")
    assert r.status_code == 404 and "location" not in r.headers
    pixel = world.tokens.sign(HitKind.OPEN, 7, SENT, None)
    assert (await world.client.get(f"/t/c/{pixel}")).status_code == 404  # not a click token


async def test_machines_are_counted_apart(world: World) -> None:
    apple = {"user-agent": "Mozilla/5.0"}
    await world.client.head(open_path(world), headers=HUMAN)  # HEAD: a checker
    await world.client.get(open_path(world), headers=apple)  # Apple Mail Privacy Protection
    await world.client.get(open_path(world), headers={**HUMAN, "x-forwarded-for": "17.1.2.3"})
    await world.client.get(open_path(world), headers={"user-agent": "Barracuda Scanner"})
    await world.client.get(open_path(world, built=int(T0.timestamp()) - 1), headers=HUMAN)
    await world.client.get(open_path(world), headers=HUMAN)  # the one person
    await world.hits.flush()
    counts = {(c.machine): c.hits for c in await world.store.hit_counts(7)}
    assert counts == {True: 5, False: 1}


async def test_metrics_count_opens_and_clicks_by_machine(world: World) -> None:
    await world.client.get(open_path(world), headers=HUMAN)
    await world.client.get(click_path(world), headers={"user-agent": "SomeBot/1.0"})
    text = (await world.client.get("/metrics")).text
    assert 'campaignd_opens_total{machine="false"} 1.0' in text
    assert 'campaignd_clicks_total{machine="true"} 1.0' in text


async def test_tracking_off_records_nothing_but_links_still_work() -> None:
    w, client = await make_world(TrackingMode.OFF)
    async with client:
        r = await client.get(click_path(w), headers=HUMAN)
        assert r.status_code == 302 and r.headers["location"] == SHOP
        assert (await client.get(open_path(w), headers=HUMAN)).status_code == 200
    assert w.hits.backlog == 0 and await w.store.hit_counts(7) == []


async def test_hits_are_written_in_batches_and_kept_when_the_store_fails() -> None:
    store = MemoryStore()
    calls: list[int] = []
    original = store.record_hits

    async def record(hits: list[Hit]) -> None:
        calls.append(len(hits))
        if len(calls) == 1:
            from campaignd.errors import StoreError

            raise StoreError("down")
        await original(hits)

    store.record_hits = record  # type: ignore[method-assign]
    hits = HitRecorder(store, TrackingSettings(flush_hits=3, max_buffered=4))
    for _ in range(6):
        hits.add(Hit(7, HitKind.OPEN, T0))
    assert hits.backlog == 4 and hits.dropped == 2  # bounded
    assert await hits.flush() == 0 and hits.backlog == 4  # kept for the next try
    assert await hits.flush() == 4 and calls == [4, 4]
    assert sum(c.hits for c in await store.hit_counts(7)) == 4


async def test_the_recorder_task_flushes_on_its_own_and_on_close() -> None:
    store = MemoryStore()
    hits = HitRecorder(store, TrackingSettings(flush_interval=0.05, flush_hits=2))
    import asyncio

    task = asyncio.create_task(hits.run())
    hits.add(Hit(7, HitKind.OPEN, T0))
    hits.add(Hit(7, HitKind.OPEN, T0))  # flush_hits reached: written at once
    await asyncio.sleep(0.01)
    assert hits.written == 2
    hits.add(Hit(7, HitKind.CLICK, T0, url=SHOP))
    await hits.close()
    await asyncio.wait_for(task, 1)
    assert hits.written == 3 and hits.backlog == 0


def test_prefetch_window_rule() -> None:
    rules = MachineRules(TrackingSettings(machine_window=5))
    person = Request("GET", HUMAN["user-agent"], "198.51.100.7")
    built = T0 - dt.timedelta(seconds=4)
    assert rules.is_machine(HitKind.CLICK, person, built, T0)
    assert not rules.is_machine(HitKind.CLICK, person, T0 - dt.timedelta(seconds=6), T0)
    apple = Request("GET", HUMAN["user-agent"], "17.0.0.1")
    assert rules.is_machine(HitKind.OPEN, apple, T0 - dt.timedelta(hours=1), T0)
    assert not rules.is_machine(HitKind.CLICK, apple, T0 - dt.timedelta(hours=1), T0)
