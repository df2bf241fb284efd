"""End to end through the real CLI and daemon: a public list's form signs someone up and the
confirmation arrives through the daemon's messenger; an --archive campaign's manage_url() and
archive_url() links open the preference page and the web view; the list's archive lists it."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import re
import signal
import urllib.parse
from pathlib import Path

import pytest

from tests.acceptance.helpers import capture_server, free_port, make_env
from tests.acceptance.test_unsubscribe_e2e import http, messages_to, wait_for

pytestmark = pytest.mark.slow
FORM = "application/x-www-form-urlencoded"


def test_public_form_preferences_and_archive_through_the_daemon(tmp_path: Path) -> None:
    smtp_port, http_port = free_port(), free_port()
    root = f"http://127.0.0.1:{http_port}"
    e = make_env(tmp_path, smtp_port, root_url=root)
    e.env.update(CAMPAIGND_HTTP__ENABLED="true", CAMPAIGND_HTTP__LISTEN=f"127.0.0.1:{http_port}")
    e.cli("db", "upgrade")
    made = json.loads(
        e.cli("lists", "create", "news", "--public", "--optin", "double", "--json").stdout
    )
    assert made["public"] is True
    list_uuid = made["uuid"]
    e.cli(
        "subscribers",
        "add",
        "ann@example.com",
        "--name",
        "Ann",
        "--list",
        "news",
        "--status",
        "confirmed",
    )
    body = tmp_path / "body.html"
    body.write_text(
        '<p>Hi {{ subscriber.name }}</p><a href="{{ manage_url() }}">prefs</a>'
        '<a href="{{ archive_url() }}">web</a>'
    )
    created = json.loads(
        e.cli(
            "campaigns", "create", "--name", "Issue 1", "--subject", "Issue 1", "--list", "news",
            "--body-file", str(body), "--archive", "--json",
        ).stdout
    )  # fmt: skip
    assert created["archive"] is True
    with capture_server(smtp_port, e.mail):
        daemon = e.daemon()
        err = ""
        try:
            wait_for(lambda: http(f"{root}/healthz")[0] == 200)
            status, page = http(f"{root}/subscribe/{list_uuid}")
            assert status == 200 and 'name="nonce"' in page
            form = urllib.parse.urlencode({"email": "new@example.com", "l": list_uuid}).encode()
            status, page = http(f"{root}/subscribe", form, FORM)
            assert status == 200 and "Thank you" in page
            wait_for(
                lambda: "new@example.com" in messages_to(e, "Please confirm your subscription")
            )
            shown = json.loads(e.cli("subscribers", "show", "new@example.com", "--json").stdout)
            assert [s["status"] for s in shown["subscriptions"]] == ["unconfirmed"]

            e.cli("campaigns", "start", str(created["id"]))
            wait_for(lambda: "ann@example.com" in messages_to(e, "Issue 1"))
            msg = messages_to(e, "Issue 1")["ann@example.com"]
            assert isinstance(msg, email.message.EmailMessage)
            html = msg.get_body(("html",))
            assert html is not None
            links = re.findall(r'href="([^"]+)"', html.get_content())
            manage, web = links[0], links[1]
            assert manage.startswith(f"{root}/manage/") and web.startswith(f"{root}/archive/")
            status, page = http(manage)
            assert status == 200 and 'value="Ann"' in page
            status, page = http(web)
            assert status == 200 and "Hi Ann" in page
            status, page = http(f"{root}/archive/{created['uuid']}")
            assert status == 200 and "Hi Sam Sample" in page
            status, page = http(f"{root}/archive/list/{list_uuid}")
            assert status == 200 and f"/archive/{created['uuid']}" in page

            cid = str(created["id"])
            assert "not in the archive" in e.cli("campaigns", "archive", cid, "--off").stdout
            assert http(f"{root}/archive/{created['uuid']}")[0] == 404
            assert http(web)[0] == 404
            assert "is in the archive" in e.cli("campaigns", "archive", cid).stdout
            assert http(web)[0] == 200
            missing = e.cli("campaigns", "archive", "999", check=False)
            assert missing.returncode == 1 and "no campaign 999" in missing.stderr
        finally:
            daemon.send_signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
