"""The dashboard over the in-memory store through httpx: login with an API token sets a signed
HttpOnly SameSite=Strict cookie; no or bad cookie redirects to login; CSRF on every POST; the
pages show exact counts, send rate and ETA, the failures (CSV neutralised), and no secret."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from campaignd.api.app import create_api_app
from campaignd.api.tokens import create_token
from campaignd.config import SecuritySettings
from campaignd.dashboard.views import send_rate
from campaignd.domain import (
    DeliveryStatus,
    LedgerPoint,
    NewCampaign,
    NewSubscriber,
    OptIn,
    SubscriberStatus,
    SubscriberUpdate,
    SubscriptionStatus,
)
from campaignd.store.memory import MemoryStore
from tests.api.conftest import api_settings
from tests.unit.test_campaign_stats import T0, at, sent_campaign

BASE = "http://api.test"
NEW = SubscriptionStatus.CONFIRMED


@dataclass
class Dash:
    client: httpx.AsyncClient
    store: MemoryStore
    token: str
    campaign: int


@pytest.fixture
async def dash() -> AsyncIterator[Dash]:
    store = MemoryStore()
    cid, _ = await sent_campaign(store)  # running: 3 sent, 1 failed at T0+1min
    _, token = await create_token(store, "ops", read_only=True, now=T0)
    app = create_api_app(store, api_settings(), clock=lambda: at(2))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, follow_redirects=False
    ) as client:
        yield Dash(client, store, token, cid)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found[1]


async def login(d: Dash, token: str | None = None) -> httpx.Response:
    form = await d.client.get("/dashboard/login")
    assert form.status_code == 200
    return await d.client.post(
        "/dashboard/login", data={"csrf": csrf_of(form.text), "token": token or d.token}
    )


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard",
        "/dashboard/lists",
        "/dashboard/lists/1",
        "/dashboard/campaigns/1",
        "/dashboard/campaigns/1/failures.csv",
    ],
)
async def test_without_a_session_pages_redirect_to_login(dash: Dash, path: str) -> None:
    got = await dash.client.get(path)
    assert (got.status_code, got.headers["location"]) == (303, "/dashboard/login")
    assert (await dash.client.get("/dashboard/live.json")).status_code == 401


async def test_login_sets_a_signed_httponly_strict_cookie(dash: Dash) -> None:
    got = await login(dash)
    assert (got.status_code, got.headers["location"]) == (303, "/dashboard")
    cookie = next(h for h in got.headers.get_list("set-cookie") if "campaignd_session=" in h)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert dash.token not in cookie
    page = await dash.client.get("/dashboard")
    assert page.status_code == 200
    assert "script-src 'nonce-" in page.headers["content-security-policy"]
    assert dash.token not in page.text and "s" * 32 not in page.text


async def test_a_wrong_token_or_a_missing_csrf_does_not_log_in(dash: Dash) -> None:
    got = await login(dash, "cdk_wrong")
    assert got.status_code == 401 and "not valid" in got.text
    assert "campaignd_session" not in got.headers.get("set-cookie", "")
    form = await dash.client.get("/dashboard/login")
    got = await dash.client.post("/dashboard/login", data={"csrf": "x" * 22, "token": dash.token})
    assert got.status_code == 403
    assert (await dash.client.get("/dashboard")).status_code == 303
    assert form.status_code == 200


async def test_a_tampered_or_revoked_cookie_is_refused(dash: Dash) -> None:
    await login(dash)
    good = dash.client.cookies["campaignd_session"]
    parts = good.split(".")
    parts[1] = str(int(parts[1]) + 1)  # another token id, same tag
    dash.client.cookies.set(
        "campaignd_session", ".".join(parts), domain="api.test", path="/dashboard"
    )
    assert (await dash.client.get("/dashboard")).status_code == 303
    dash.client.cookies.set("campaignd_session", good, domain="api.test", path="/dashboard")
    assert (await dash.client.get("/dashboard")).status_code == 200
    await dash.store.revoke_api_token("ops")
    assert (await dash.client.get("/dashboard")).status_code == 303


async def test_logout_needs_the_csrf_token(dash: Dash) -> None:
    await login(dash)
    page = await dash.client.get("/dashboard")
    assert (await dash.client.post("/dashboard/logout", data={"csrf": "nope"})).status_code == 403
    assert (await dash.client.get("/dashboard")).status_code == 200
    out = await dash.client.post("/dashboard/logout", data={"csrf": csrf_of(page.text)})
    assert (out.status_code, out.headers["location"]) == (303, "/dashboard/login")
    assert (await dash.client.get("/dashboard")).status_code == 303


async def test_pages_show_exact_counts_rate_and_eta(dash: Dash) -> None:
    await login(dash)
    live = (await dash.client.get("/dashboard/live.json")).json()
    [row] = live["rows"]
    assert row["id"] == dash.campaign
    cells = row["cells"]
    assert (cells["status"], cells["sent"], cells["failed"], cells["remaining"]) == (
        "running", "3", "1", "0",
    )  # fmt: skip
    assert cells["rate"] == "4.0/min"  # 4 finished in the minute since the first one
    page = await dash.client.get(f"/dashboard/campaigns/{dash.campaign}")
    assert page.status_code == 200
    assert "<svg" in page.text and "polyline" in page.text
    assert "s3@example.com" in page.text  # the failed one, with the server's reply
    assert (await dash.client.get("/dashboard/campaigns/999")).status_code == 404
    assert (await dash.client.get("/dashboard/lists")).status_code == 200


async def growing_list(store: MemoryStore) -> int:
    """A list with 2 new on T0-2 days, 1 new on T0-1 day, and one of the first blocklisted at
    T0 (the dashboard's clock is T0 + 2 minutes)."""
    lid = (await store.create_list("growing", OptIn.SINGLE, "")).id
    for i, days_ago in enumerate((2, 2, 1)):
        sid = (await store.add_subscriber(NewSubscriber(f"g{i}@example.com", "g", {}), (), NEW)).id
        await store.subscribe(sid, [lid], T0 - dt.timedelta(days=days_ago))
        if i == 0:
            blocked = SubscriberUpdate(status=SubscriberStatus.BLOCKLISTED)
            await store.update_subscriber(sid, blocked, T0)
    return lid


async def test_a_lists_growth_page_shows_each_day_and_the_running_total(dash: Dash) -> None:
    lid = await growing_list(dash.store)
    await login(dash)
    lists = await dash.client.get("/dashboard/lists")
    assert f'href="/dashboard/lists/{lid}">growing</a>' in lists.text
    page = await dash.client.get(f"/dashboard/lists/{lid}?days=30")
    assert page.status_code == 200
    rows = re.findall(
        r'<tr data-day="([0-9-]+)">.*?"subscribed">(\d+)<.*?"unsubscribed">(\d+)<.*?"total">(\d+)<',
        page.text,
        re.S,
    )
    assert rows == [  # newest first, days without a change left out of the table
        ("2026-03-01", "0", "1", "2"),
        ("2026-02-28", "1", "0", "3"),
        ("2026-02-27", "2", "0", "2"),
    ]
    assert '<strong data-k="subscribers">2</strong>' in page.text
    assert page.text.count("<svg") == 2
    for bad, status in (("abc", 400), ("0", 400), ("99999", 400)):
        got = await dash.client.get(f"/dashboard/lists/{lid}?days={bad}")
        assert got.status_code == status and "days must be" in got.text
    assert (await dash.client.get("/dashboard/lists/999")).status_code == 404


async def test_failures_csv_neutralises_formulas(dash: Dash) -> None:
    await login(dash)
    rows = await dash.store.claim_batch(dash.campaign, "me", 10, T0)
    assert rows == []  # everything was recorded by the fixture
    failures = await dash.store.failures(dash.campaign)
    assert failures
    got = await dash.client.get(f"/dashboard/campaigns/{dash.campaign}/failures.csv")
    assert got.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(got.text)))
    assert table[0][0] == "email" and table[1][0] == failures[0].email


def test_send_rate_and_its_absence() -> None:
    assert send_rate([], at(2)) is None
    points = [LedgerPoint(T0, DeliveryStatus.SENT, 60), LedgerPoint(at(1), DeliveryStatus.SENT, 60)]
    assert send_rate(points, at(2)) == pytest.approx(60.0)
    assert send_rate(points, at(30)) is None


async def test_without_a_secret_the_dashboard_says_so_and_the_api_still_works() -> None:
    store = MemoryStore()
    _, token = await create_token(store, "ops", read_only=True, now=T0)
    settings = api_settings().model_copy(update={"security": SecuritySettings()})
    app = create_api_app(store, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        for path in ("/dashboard", "/dashboard/login"):
            got = await c.get(path)
            assert got.status_code == 503 and "security.secret" in got.text
        lists = await c.get("/api/v1/lists", headers={"Authorization": f"Bearer {token}"})
        assert lists.status_code == 200


XSS = '<script>alert("x")</script>'


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/campaigns/%3Cscript%3Ealert(1)",
        "/dashboard/lists/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        "/dashboard/campaigns/%3Cb%3E1/failures.csv",
        '/dashboard/lists/1?days=<script>alert("x")</script>',
        "/dashboard/campaigns/999",
    ],
)
async def test_error_pages_escape_what_they_echo(dash: Dash, path: str) -> None:
    await login(dash)
    got = await dash.client.get(path)
    assert got.status_code in (400, 404), got.text
    assert got.headers["content-type"].startswith("text/html")
    assert "<script>" not in got.text.replace('<script nonce="', "")  # only the page's own
    assert "<img" not in got.text and "<b>" not in got.text
    assert "&lt;" in got.text or "999" in got.text
    assert "<h1>" in got.text  # a whole page, not a bare message


async def test_names_with_markup_are_escaped_on_every_page(dash: Dash) -> None:
    bad = await dash.store.create_list(XSS, OptIn.SINGLE, XSS)
    new = NewCampaign(XSS, XSS, "a@example.com", "b", (XSS,))
    cid = (await dash.store.create_campaign(new, None)).id
    await login(dash)
    for path in ("/dashboard", f"/dashboard/campaigns/{cid}", "/dashboard/lists",
                 f"/dashboard/lists/{bad.id}"):  # fmt: skip
        got = await dash.client.get(path)
        assert got.status_code == 200, path
        assert XSS not in got.text and "&lt;script&gt;" in got.text, path
