"""The real CLI and daemon in subprocesses, sending to a local capture SMTP server.

Covers the main job end to end: import, campaign, `run --until-idle`, exact counts; a SIGTERM
drain with no duplicates; and kill -9 mid-campaign with nothing lost after a restart.
"""

from __future__ import annotations

import email
import email.policy
import json
import signal
import time
from pathlib import Path

import pytest

from tests.acceptance.helpers import Env, capture_server, free_port, make_env

pytestmark = pytest.mark.slow


def seed(e: Env, n: int) -> tuple[str, set[str]]:
    rows = ["email,name,attributes"]
    rows += [f'user{i}@example.com,User {i},"{{""n"": {i}}}"' for i in range(n)]
    rows += ["blocked@example.com,Blocked,", "not-an-address,Bad,"]
    csv_path = e.root / "subs.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    e.cli("db", "upgrade")
    e.cli("lists", "create", "news")
    imported = json.loads(
        e.cli(
            "subscribers",
            "import",
            str(csv_path),
            "--list",
            "news",
            "--status",
            "confirmed",
            "--json",
        ).stdout
    )
    assert imported["inserted"] == n + 1 and imported["errors"] == 1
    e.cli("subscribers", "blocklist", "blocked@example.com")
    body = e.root / "body.html"
    body.write_text("<p>Hello {{ subscriber.name }}, number {{ subscriber.attributes.n }}</p>")
    campaign_id = e.cli(
        "campaigns",
        "create",
        "--name",
        "e2e",
        "--subject",
        "Hi {{ subscriber.name }}",
        "--list",
        "news",
        "--body-file",
        str(body),
    ).stdout.strip()
    e.cli("campaigns", "start", campaign_id)
    return campaign_id, {f"user{i}@example.com" for i in range(n)}


def test_run_until_idle_sends_once_to_each_eligible_subscriber(tmp_path: Path) -> None:
    port = free_port()
    e = make_env(tmp_path, port, message_rate=0, concurrency=10)
    with capture_server(port, e.mail):
        campaign_id, eligible = seed(e, 200)
        result = e.cli("run", "--until-idle")
        assert "campaign" in result.stderr  # lifecycle is logged
        got = e.received()
    assert set(got) == eligible
    assert max(got.values()) == 1
    shown = e.show(campaign_id)
    assert shown["status"] == "finished"
    assert (shown["to_send"], shown["sent"], shown["failed"]) == (200, 200, 0)
    one = next(e.mail.glob("*.eml")).read_bytes()
    msg = email.message_from_bytes(one, policy=email.policy.default)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_sigterm_drains_without_duplicates(tmp_path: Path) -> None:
    port = free_port()
    e = make_env(tmp_path, port, message_rate=300, concurrency=10)
    with capture_server(port, e.mail):
        campaign_id, eligible = seed(e, 1000)
        proc = e.daemon()
        deadline = time.monotonic() + 30
        while e.count() < 100 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        first = e.received()
        shown = e.show(campaign_id)
        assert shown["sent"] == sum(first.values())  # the ledger matches the sink exactly
        assert shown["in_flight"] == 0
        assert shown["status"] == "running"
        e.cli("run", "--until-idle")
        got = e.received()
    assert set(got) == eligible
    assert max(got.values()) == 1


def test_kill_9_mid_campaign_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    concurrency = 10
    e = make_env(tmp_path, port, message_rate=500, concurrency=concurrency)
    with capture_server(port, e.mail):
        campaign_id, eligible = seed(e, 1000)
        proc = e.daemon()
        deadline = time.monotonic() + 30
        while e.count() < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill()
        proc.communicate(timeout=10)
        assert e.count() < len(eligible)
        e.cli("run", "--until-idle")
        got = e.received()
    assert set(got) == eligible
    duplicates = sum(c - 1 for c in got.values())
    assert duplicates <= concurrency
    shown = e.show(campaign_id)
    assert shown["status"] == "finished" and shown["sent"] == len(eligible)


def test_second_signal_stops_at_once_and_the_next_start_recovers(tmp_path: Path) -> None:
    import socket

    # A server that accepts connections and never greets: every send hangs.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(100)
        port = silent.getsockname()[1]
        e = make_env(tmp_path, port, message_rate=0, concurrency=5, shutdown_grace="60s")
        campaign_id, _ = seed(e, 20)
        proc = e.daemon()
        time.sleep(3)  # claimed, connecting, hanging
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None  # the first signal waits for in-flight sends (grace 60 s)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert time.monotonic() - started < 10
        assert proc.returncode == 1
        assert "stopping now" in err
    shown = e.show(campaign_id)
    assert shown["sent"] == 0
    # Nothing was delivered; every recipient is still to do (claims released or recovered).
    assert shown["pending"] + shown["in_flight"] == 20
    with capture_server(port, e.mail):
        e.cli("run", "--until-idle")
    got = e.received()
    assert len(got) == 20 and max(got.values()) == 1
    assert e.show(campaign_id)["status"] == "finished"
