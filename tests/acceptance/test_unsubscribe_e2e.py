"""End to end: the daemon sends a campaign and serves HTTP; the List-Unsubscribe URL of a captured
message, POSTed as a mailbox provider does (RFC 8058), keeps that subscriber out of the next one."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.acceptance.helpers import Env, capture_server, free_port, make_env

pytestmark = pytest.mark.slow


def wait_for(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def http(url: str, data: bytes | None = None, content_type: str = "") -> tuple[int, str]:
    method = "POST" if data is not None else "GET"
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - 127.0.0.1
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def campaign(e: Env, name: str, body: Path) -> str:
    campaign_id = e.cli(
        "campaigns", "create", "--name", name, "--subject", name, "--list", "news",
        "--body-file", str(body),
    ).stdout.strip()  # fmt: skip
    e.cli("campaigns", "start", campaign_id)
    return campaign_id


def messages_to(e: Env, subject: str) -> dict[str, email.message.EmailMessage]:
    out = {}
    for path in e.mail.glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        if msg["Subject"] == subject:
            out[msg["To"].addresses[0].addr_spec] = msg
    return out


def test_one_click_unsubscribe_excludes_the_subscriber_from_the_next_campaign(
    tmp_path: Path,
) -> None:
    smtp_port, http_port = free_port(), free_port()
    root = f"http://127.0.0.1:{http_port}"
    e = make_env(tmp_path, smtp_port, root_url=root)
    e.env.update(
        CAMPAIGND_HTTP__ENABLED="true",
        CAMPAIGND_HTTP__LISTEN=f"127.0.0.1:{http_port}",
    )
    e.cli("db", "upgrade")
    e.cli("lists", "create", "news")
    people = ["ann@example.com", "bob@example.com", "cat@example.com"]
    for address in people:
        e.cli("subscribers", "add", address, "--list", "news", "--status", "confirmed")
    body = tmp_path / "body.html"
    body.write_text("<p>Hello {{ subscriber.name }}</p>")

    with capture_server(smtp_port, e.mail):
        first = campaign(e, "First", body)
        daemon = e.daemon()
        err = ""
        try:
            wait_for(lambda: len(messages_to(e, "First")) == 3)
            wait_for(lambda: http(f"{root}/healthz")[0] == 200)
            status, health = http(f"{root}/healthz")
            assert json.loads(health) == {"status": "ok", "database": "ok", "scheduler": "ok"}

            header = str(messages_to(e, "First")["bob@example.com"]["List-Unsubscribe"])
            url = re.findall(r"<(http[^>]+)>", header)[0]
            assert url.startswith(f"{root}/unsubscribe/")

            status, page = http(url)  # a link scanner's prefetch
            assert status == 200 and "Unsubscribe" in page
            shown = json.loads(e.cli("subscribers", "show", "bob@example.com", "--json").stdout)
            assert [s["status"] for s in shown["subscriptions"]] == ["confirmed"]

            status, _ = http(
                url, b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded"
            )
            assert status == 200
            shown = json.loads(e.cli("subscribers", "show", "bob@example.com", "--json").stdout)
            assert [s["status"] for s in shown["subscriptions"]] == ["unsubscribed"]

            tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
            assert (
                http(tampered, b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded")[
                    0
                ]
                == 404
            )

            second = campaign(e, "Second", body)
            wait_for(
                lambda: (
                    json.loads(e.cli("campaigns", "show", second, "--json").stdout)["status"]
                    == "finished"
                )
            )
            assert sorted(messages_to(e, "Second")) == ["ann@example.com", "cat@example.com"]

            _, metrics = http(f"{root}/metrics")
            assert 'campaignd_messages_sent_total{messenger="email",server="127.0.0.1:' in metrics
            assert "campaignd_unsubscribes_total 1.0" in metrics
            assert 'campaignd_campaigns{status="finished"} 2.0' in metrics
        finally:
            daemon.send_signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                _, err = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, err
    assert "0123456789abcdef0123456789abcdef" not in err  # the secret never reaches the log
    assert json.loads(e.cli("campaigns", "show", first, "--json").stdout)["sent"] == 3


def test_optin_send_mails_each_unconfirmed_subscriber_once(tmp_path: Path) -> None:
    smtp_port = free_port()
    e = make_env(tmp_path, smtp_port, root_url="https://news.example")
    e.cli("db", "upgrade")
    e.cli("lists", "create", "vip", "--optin", "double")
    e.cli("lists", "create", "news")
    e.cli("subscribers", "add", "ann@example.com", "--list", "vip")
    e.cli("subscribers", "add", "bob@example.com", "--list", "news")
    template = tmp_path / "optin.html"
    template.write_text('<p>Hi {{ subscriber.name }}, <a href="{{ optin_url() }}">confirm</a></p>')
    with capture_server(smtp_port, e.mail):
        args = ("optin", "send", "--template", str(template), "--subject", "Confirm", "--json")
        first = json.loads(e.cli(*args).stdout)
        again = json.loads(e.cli(*args).stdout)
        wait_for(lambda: e.count() >= 1)
    assert (first["sent"], again["sent"]) == (1, 0)
    assert e.received() == {"ann@example.com": 1}
    msg = messages_to(e, "Confirm")["ann@example.com"]
    html = msg.get_body(("html",))
    assert html is not None
    assert re.search(r'href="https://news\.example/optin/[A-Za-z0-9_-]{40,}"', html.get_content())
    refused = e.cli("optin", "send", "--list", "news", check=False)
    assert refused.returncode == 1 and "not a double opt-in list" in refused.stderr
