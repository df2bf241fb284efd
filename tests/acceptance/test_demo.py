"""`make demo` as a new user runs it: the whole main job ends with every message captured and
the dashboard's URL; in CI (stdin not a terminal) it exits, asked to serve it serves the URL
it printed until Ctrl-C."""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from campaignd.devtools.demo import SERVE_ENV

DASHBOARD = re.compile(r"- The dashboard: +(http://127\.0\.0\.1:\d+/dashboard)\n"
                       r" +log in with the read-only API token (\S+)\n")  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != SERVE_ENV}
    return {**env, **extra}


def test_the_demo_sends_its_campaign_and_says_where_to_look(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "campaignd.devtools.demo"],
        cwd=tmp_path,
        env=_env(),
        stdin=subprocess.DEVNULL,  # not a terminal: the demo must end by itself
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    mails = sorted((tmp_path / ".demo" / "mail").glob("*.eml"))
    assert mails, result.stdout[-2000:]
    assert f"Demo finished: {len(mails)} messages captured" in result.stdout
    assert DASHBOARD.search(result.stdout), result.stdout[-2000:]
    assert "Serving the dashboard" not in result.stdout
    message = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    assert message["List-Unsubscribe"]
    assert "{{" not in mails[0].read_text(errors="replace")  # every template was rendered


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)  # noqa: S310 - 127.0.0.1
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, response.read().decode()


def test_asked_to_serve_the_printed_url_answers_until_ctrl_c(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "campaignd.devtools.demo"],
        cwd=tmp_path,
        env=_env(**{SERVE_ENV: "120"}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        out = ""
        while "Serving the dashboard for 120 s." not in out:
            line = demo.stdout.readline()
            assert line, out[-3000:]  # the demo ended before serving
            out += line
        found = DASHBOARD.search(out)
        assert found, out[-2000:]
        url, token = found[1], found[2]
        status, page = _get(url + "/login")
        assert status == 200 and 'name="token"' in page
        status, lists = _get(url.replace("/dashboard", "/api/v1/lists"), token)
        assert status == 200 and '"newsletter"' in lists
        demo.send_signal(signal.SIGINT)  # what Ctrl-C does
        rest, _ = demo.communicate(timeout=60)
        assert demo.returncode == 0, rest[-2000:]
        assert "Stopping the daemon." in rest
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
