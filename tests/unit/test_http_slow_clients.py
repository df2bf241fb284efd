"""Slow and idle clients against a real uvicorn server on 127.0.0.1 (the daemon's HttpServer):
they are cut off, and /healthz and one-click unsubscribe keep answering."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from campaignd.config import SecuritySettings, Settings, load_settings
from campaignd.domain import NewCampaign, NewSubscriber, OptIn, SubscriptionStatus
from campaignd.errors import ConfigError
from campaignd.http.app import create_app
from campaignd.http.guard import ConnectionGuard
from campaignd.http.server import MAX_CONNECTIONS, HttpServer, guard_of
from campaignd.rendering.tokens import sign
from campaignd.store.memory import MemoryStore

SECRET = "slow-clients-secret-0123456789"
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class Site:
    store: MemoryStore
    server: HttpServer
    base: str
    unsubscribe: str

    async def connect(self) -> Conn:
        return await asyncio.open_connection("127.0.0.1", self.server.port)


async def _site(guard: ConnectionGuard) -> AsyncIterator[Site]:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "")
    sub = await store.add_subscriber(
        NewSubscriber("ann@example.com", "Ann"), (news.id,), SubscriptionStatus.CONFIRMED
    )
    campaign = await store.create_campaign(
        NewCampaign(name="c", subject="s", from_email="a@example.com", body="b", lists=("news",)),
        None,
    )
    app = create_app(store, Settings(security=SecuritySettings(secret=SecretStr(SECRET))))
    server = HttpServer(app, "127.0.0.1:0", guard=guard)
    server.bind()
    server.start()
    for _ in range(100):
        if server.started:
            break
        await asyncio.sleep(0.02)
    token = sign(SECRET, "unsub", sub.uuid, campaign.uuid)
    try:
        yield Site(store, server, f"http://127.0.0.1:{server.port}", f"/unsubscribe/{token}")
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def site(guard: ConnectionGuard) -> AsyncIterator[Site]:
    async for s in _site(guard):
        yield s


async def _closed_by_server(conn: Conn, within: float) -> bool:
    """The server closes `conn` (EOF or reset, after any answer) within `within` seconds."""
    reader, _ = conn
    deadline = time.monotonic() + within
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not await asyncio.wait_for(reader.read(65536), left):
                return True
    except TimeoutError:  # (an OSError: first)
        return False
    except OSError:
        return True
    return False


async def _close(conns: list[Conn]) -> None:
    for _, writer in conns:
        writer.close()
    for _, writer in conns:
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _answers_within(site: Site, seconds: float) -> tuple[int, int, float]:
    """(healthz status, one-click unsubscribe status, seconds taken) retrying until both are 200
    or `seconds` pass."""
    start = time.monotonic()
    health = unsub = 0
    async with httpx.AsyncClient(base_url=site.base, timeout=2.0) as client:
        while time.monotonic() - start < seconds:
            with contextlib.suppress(httpx.TransportError):
                health = (await client.get("/healthz")).status_code
                unsub = (
                    await client.post(site.unsubscribe, data={"List-Unsubscribe": "One-Click"})
                ).status_code
            if health == unsub == 200:
                break
            await asyncio.sleep(0.2)
    return health, unsub, time.monotonic() - start


async def test_idle_and_half_sent_connections_do_not_lock_out_health_and_unsubscribe() -> None:
    guard = ConnectionGuard(header_timeout=1.0)
    async with site(guard) as s:
        idle = [await s.connect() for _ in range(MAX_CONNECTIONS)]
        half = [await s.connect() for _ in range(20)]
        for _, writer in half:
            writer.write(b"GET /heal")  # half a request line, then nothing
            await writer.drain()
        health, unsub, took = await _answers_within(s, 6.0)
        assert (health, unsub) == (200, 200), f"after {took:.1f}s"
        assert took < 4.0
        sub = await s.store.get_subscriber("ann@example.com")
        assert [x.status for x in sub.subscriptions] == [SubscriptionStatus.UNSUBSCRIBED]
        assert all([await _closed_by_server(c, 0.5) for c in idle + half])
        await _close(idle + half)


async def test_a_request_trickled_byte_by_byte_is_cut_off_at_the_header_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with site(ConnectionGuard(header_timeout=1.0, body_timeout=1.0)) as s:
        reader, writer = await s.connect()
        start = time.monotonic()
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except (ConnectionError, OSError):
                closed = True
                break
            if reader.at_eof():
                closed = True
                break
            await asyncio.sleep(0.05)
        assert closed or await _closed_by_server((reader, writer), 1.0)
        assert time.monotonic() - start < 3.0

        body = await s.connect()  # complete headers, then a body that never finishes
        body[1].write(
            f"POST {s.unsubscribe} HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
            "List-Unsub".encode()
        )
        await body[1].drain()
        assert await _closed_by_server(body, 3.0)
        sub = await s.store.get_subscriber("ann@example.com")
        assert [x.status for x in sub.subscriptions] == [SubscriptionStatus.CONFIRMED]
        await _close([(reader, writer), body])
        await asyncio.sleep(0.1)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_keep_alive_connections_get_the_header_deadline_again() -> None:
    async with site(ConnectionGuard(header_timeout=1.0)) as s:
        reader, writer = await s.connect()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
        assert head.startswith(b"HTTP/1.1 200")
        writer.write(b"GET /hea")  # the next request, half sent: no keep-alive reprieve
        await writer.drain()
        assert await _closed_by_server((reader, writer), 3.0)
        await _close([(reader, writer)])


async def test_connections_per_client_address_are_capped_unless_it_is_the_proxy() -> None:
    async with site(ConnectionGuard(max_per_client=5, exempt=frozenset())) as s:
        held = [await s.connect() for _ in range(5)]
        extra = await s.connect()
        assert await _closed_by_server(extra, 1.0)  # the sixth from one address
        assert not any([await _closed_by_server(c, 0.05) for c in held])
        await _close([*held, extra])
        await asyncio.sleep(0.1)
        health, unsub, _ = await _answers_within(s, 3.0)  # the address's slots are free again
        assert (health, unsub) == (200, 200)
        assert s.server.guard.refused == 1
    async with site(ConnectionGuard(max_per_client=5)) as s:  # 127.0.0.1: the proxy
        held = [await s.connect() for _ in range(10)]
        assert not any([await _closed_by_server(c, 0.05) for c in held])
        await _close(held)


def test_http_limits_are_settings(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[http]\nheader_timeout = "2s"\nbody_timeout = "1m"\nmax_connections_per_client = 8\n'
        'proxy_addresses = ["10.0.0.1", "::1"]\n'
    )
    guard = guard_of(load_settings(path, env={}).http)
    assert (guard.header_timeout, guard.body_timeout, guard.max_per_client) == (2.0, 60.0, 8)
    assert guard.exempt == {"10.0.0.1", "::1"}
    for body, key in (
        ('header_timeout = "0s"', "http.header_timeout"),
        ("max_connections_per_client = -1", "http.max_connections_per_client"),
        ('proxy_addresses = ["nginx"]', "http.proxy_addresses"),
    ):
        path.write_text(f"[http]\n{body}\n")
        with pytest.raises(ConfigError) as caught:
            load_settings(path, env={})
        assert caught.value.key == key


async def test_kept_alive_responses_with_a_body_do_not_wait_for_a_delayed_ack() -> None:
    """Headers and body leave in two writes: without TCP_NODELAY on the accepted socket the
    body waits for the client's delayed ACK, ~40 ms a response (the open pixel's case)."""
    async with site(ConnectionGuard()) as s:
        reader, writer = await s.connect()
        start = time.monotonic()
        for _ in range(20):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
            assert head.startswith(b"HTTP/1.1 200")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            assert length > 0
            await reader.readexactly(length)
        assert time.monotonic() - start < 0.4  # 20 x 40 ms = 0.8 s when the body waits
        await _close([(reader, writer)])
