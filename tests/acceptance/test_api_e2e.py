"""End to end: `campaignd run` serves the admin API on its own uvicorn listener (never on the
public [http] one); a client adds a subscriber, creates and starts a campaign and polls its
counts until every message was captured by the local SMTP server."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.helpers import capture_server, free_port, make_env

pytestmark = pytest.mark.slow


def wait_for(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def call(url: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - 127.0.0.1
        url, data=data, method="POST" if data is not None else "GET"
    )
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text.startswith(b"{") else text.decode()
    except OSError:
        return 0, None


def test_daemon_serves_the_api_on_its_own_listener_only(tmp_path: Path) -> None:
    smtp_port, http_port, api_port = free_port(), free_port(), free_port()
    e = make_env(tmp_path, smtp_port)
    e.env.update(
        CAMPAIGND_HTTP__ENABLED="true",
        CAMPAIGND_HTTP__LISTEN=f"127.0.0.1:{http_port}",
        CAMPAIGND_API__ENABLED="true",
        CAMPAIGND_API__LISTEN=f"127.0.0.1:{api_port}",
    )
    e.cli("db", "upgrade")
    token = e.cli("api-tokens", "create", "shop").stdout.strip()
    api = f"http://127.0.0.1:{api_port}/api/v1"
    public = f"http://127.0.0.1:{http_port}"

    with capture_server(smtp_port, e.mail):
        daemon = e.daemon()
        err = ""
        try:
            wait_for(lambda: call(f"{api}/lists", token)[0] == 200)
            assert call(f"{api}/lists")[0] == 401
            # the public listener knows nothing of /api, with or without a token
            for path in ("/api/v1/lists", "/api/v1/openapi.json"):
                status, _ = call(public + path, token)
                assert status == 404, path
            assert call(f"{public}/healthz")[0] == 200

            status, news = call(f"{api}/lists", token, {"name": "news"})
            assert status == 201
            for who in ("ann", "bob"):
                status, _ = call(f"{api}/subscribers", token, {
                    "email": f"{who}@example.com", "lists": [news["id"]], "status": "confirmed",
                })  # fmt: skip
                assert status == 201
            status, made = call(f"{api}/campaigns", token, {
                "name": "api", "subject": "Hi {{ subscriber.name }}", "lists": [news["id"]],
                "body": "<p>Hello</p>",
            })  # fmt: skip
            assert status == 201
            status, started = call(f"{api}/campaigns/{made['id']}/start", token, {})
            assert (status, started["status"]) == (200, "running")
            wait_for(
                lambda: call(f"{api}/campaigns/{made['id']}", token)[1]["status"] == "finished"
            )
            shown = call(f"{api}/campaigns/{made['id']}", token)[1]
            assert (shown["to_send"], shown["sent"], shown["failed"]) == (2, 2, 0)
            assert e.received() == {"ann@example.com": 1, "bob@example.com": 1}
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, err = daemon.communicate(timeout=30)
        assert daemon.returncode == 0, err
        assert token not in err
        assert "POST /api/v1/campaigns by API token shop: 201" in err  # writes are logged
