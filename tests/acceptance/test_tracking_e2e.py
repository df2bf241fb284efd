"""End to end: a tracked campaign through the daemon to a capture SMTP server; the pixel and a
link of a received message fetched over HTTP; `campaigns stats` counts them."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import signal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.acceptance.helpers import capture_server, free_port, make_env
from tests.acceptance.test_unsubscribe_e2e import messages_to, wait_for

pytestmark = pytest.mark.slow

SHOP = "https://shop.example/sale?a=1&b=2"


def fetch(url: str, method: str = "GET", agent: str = "Thunderbird/128") -> tuple[int, str, bytes]:
    """(status, Location, body) without following a redirect."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        conn.request(method, parts.path, headers={"User-Agent": agent})
        response = conn.getresponse()
        return response.status, response.getheader("Location", ""), response.read()
    finally:
        conn.close()


def test_opens_and_clicks_of_a_tracked_campaign_are_counted(tmp_path: Path) -> None:
    smtp_port, http_port = free_port(), free_port()
    root = f"http://127.0.0.1:{http_port}"
    e = make_env(tmp_path, smtp_port, root_url=root)
    e.env.update(
        CAMPAIGND_HTTP__ENABLED="true",
        CAMPAIGND_HTTP__LISTEN=f"127.0.0.1:{http_port}",
        CAMPAIGND_TRACKING__MODE="individual",
        CAMPAIGND_TRACKING__MACHINE_WINDOW="0s",  # the test reads its mail at once
        # Written when 3 hits wait (the test makes 3), else only at shutdown (no timed flush).
        CAMPAIGND_TRACKING__FLUSH_HITS="3",
        CAMPAIGND_TRACKING__FLUSH_INTERVAL="60s",
    )
    e.cli("db", "upgrade")
    e.cli("lists", "create", "news")
    for address in ("ann@example.com", "bob@example.com"):
        e.cli("subscribers", "add", address, "--list", "news", "--status", "confirmed")
    body = tmp_path / "body.html"
    body.write_text(
        f'<p>Hello {{{{ subscriber.name }}}}, <a href="{SHOP.replace("&", "&amp;")}">sale</a>'
        ' <a href="{{ unsubscribe_url() }}">unsubscribe</a></p>'
    )
    plain = tmp_path / "plain.html"
    plain.write_text(f'<p><a href="{SHOP}">sale</a></p>')
    create = ("campaigns", "create", "--subject", "Tracked", "--list", "news", "--body-file")
    cid = e.cli(*create, str(body), "--name", "t", "--track", "opens,clicks").stdout.strip()
    untracked = e.cli(
        "campaigns", "create", "--subject", "Plain", "--list", "news", "--body-file", str(plain),
        "--name", "p",
    ).stdout.strip()  # fmt: skip
    bad = e.cli(*create, str(body), "--name", "x", "--track", "opens,likes", check=False)
    assert bad.returncode == 1 and "'likes'" in bad.stderr
    unknown = e.cli("campaigns", "stats", "999", "--json", check=False)
    assert unknown.returncode == 1 and unknown.stderr.strip() == "error: no campaign 999"
    assert json.loads(e.cli("campaigns", "ls", "--json").stdout)[0]["track"] == ["opens", "clicks"]

    with capture_server(smtp_port, e.mail):
        e.cli("campaigns", "start", cid)
        e.cli("campaigns", "start", untracked)
        daemon = e.daemon()
        err = ""
        try:
            wait_for(
                lambda: len(messages_to(e, "Tracked")) == 2 and len(messages_to(e, "Plain")) == 2
            )
            for msg in messages_to(e, "Plain").values():
                part = msg.get_body(("html",))
                assert part is not None and "/t/" not in str(part.get_content())
            html = messages_to(e, "Tracked")["ann@example.com"].get_body(("html",))
            assert html is not None
            text = str(html.get_content())
            (pixel,) = re.findall(rf'src="({re.escape(root)}/t/o/[^"]+)"', text)
            (link,) = re.findall(rf'href="({re.escape(root)}/t/c/[^"]+)"', text)
            assert f"{root}/unsubscribe/" in text  # not rewritten

            wait_for(lambda: fetch(f"{root}/healthz")[0] == 200)
            status, _, gif = fetch(pixel)
            assert status == 200 and gif.startswith(b"GIF89a")
            assert fetch(pixel, "HEAD")[0] == 200  # a machine
            status, location, _ = fetch(link)
            assert (status, location) == (302, SHOP)
            assert fetch(link[:-2] + ("AA" if not link.endswith("AA") else "BB"))[0] == 404

            def stats() -> dict[str, object]:
                out: dict[str, object] = json.loads(
                    e.cli("campaigns", "stats", cid, "--json").stdout
                )
                return out

            wait_for(lambda: stats()["clicks"] == 1 and stats()["machine_opens"] == 1)
            got = stats()
            assert (got["sent"], got["opens"], got["unique_opens"], got["open_rate"]) == (
                2, 1, 1, 0.5,
            )  # fmt: skip
            assert got["links"] == [{"url": SHOP, "clicks": 1, "machine_clicks": 0}]
            assert got["track"] == ["opens", "clicks"] and got["tracking"] == "individual"
            assert json.loads(e.cli("campaigns", "stats", untracked, "--json").stdout)["opens"] == 0
            shown = e.cli("campaigns", "stats", cid).stdout
            assert "opens: 1 (unique 1, rate 50.0%); machine 1" in shown
            _, _, metrics = fetch(f"{root}/metrics")
            assert b'campaignd_opens_total{machine="true"} 1.0' in metrics
            assert b'campaignd_clicks_total{machine="false"} 1.0' in metrics
            assert fetch(pixel)[0] == 200  # waits in the buffer: written by the shutdown
            assert stats()["opens"] == 1
        finally:
            daemon.send_signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                _, err = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, err
    assert stats()["opens"] == 2
