"""`campaignd campaigns` through the real CLI: create checks, transitions, preview, test sends,
JSON logs, and a SIGHUP reload of the daemon's rate while it sends."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import signal
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.helpers import Env, capture_server, free_port, make_env


def setup(e: Env, n: int = 3) -> str:
    e.cli("db", "upgrade")
    e.cli("lists", "create", "news")
    rows = "".join(f"user{i}@example.com,User {i}\n" for i in range(n))
    (e.root / "subs.csv").write_text("email,name\n" + rows)
    e.cli("subscribers", "import", str(e.root / "subs.csv"), "--list", "news")
    body = e.root / "body.html"
    body.write_text("<p>Hello {{ subscriber.name }}</p>")
    return e.cli(
        "campaigns",
        "create",
        "--name",
        "c",
        "--subject",
        "Hi {{ subscriber.first_name }}",
        "--list",
        "news",
        "--body-file",
        str(body),
        "--header",
        "X-Tag: {{ campaign.name }}",
    ).stdout.strip()


def test_create_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    e = make_env(tmp_path, free_port())
    setup(e, n=1)
    body = tmp_path / "bad.html"
    body.write_text("<p>{% for x in %}</p>")
    for args, message in (
        (["--body-file", str(body)], "line 1"),
        (["--body-file", str(tmp_path / "body.html"), "--list", "nope"], "no list named 'nope'"),
        (["--body-file", str(tmp_path / "body.html"), "--messenger", "x"], "unknown messenger"),
        (["--body-file", str(tmp_path / "body.html"), "--header", "Bcc: a@b"], "Bcc"),
    ):
        result = e.cli(
            "campaigns",
            "create",
            "--name",
            "bad",
            "--subject",
            "s",
            "--list",
            "news",
            *args,
            check=False,
        )
        assert result.returncode == 1, args
        assert message in result.stderr, result.stderr
    listed = json.loads(e.cli("campaigns", "ls", "--json").stdout)
    assert [c["name"] for c in listed] == ["c"]


def test_transitions_are_checked(tmp_path: Path) -> None:
    e = make_env(tmp_path, free_port())
    campaign_id = setup(e, n=1)
    refused = e.cli("campaigns", "pause", campaign_id, check=False)
    assert refused.returncode == 1
    assert "cannot pause a draft campaign" in refused.stderr
    no_time = e.cli("campaigns", "schedule", campaign_id, check=False)
    assert "send time" in no_time.stderr
    e.cli("campaigns", "schedule", campaign_id, "--send-at", "2099-01-01T09:00:00+01:00")
    shown = e.show(campaign_id)
    assert shown["status"] == "scheduled"
    assert shown["send_at"] == "2099-01-01T08:00:00+00:00"
    e.cli("campaigns", "cancel", campaign_id)
    assert e.show(campaign_id)["status"] == "cancelled"
    assert e.cli("campaigns", "start", campaign_id, check=False).returncode == 1


def test_show_names_the_lists_for_people_and_keeps_ids_in_json(tmp_path: Path) -> None:
    e = make_env(tmp_path, free_port())
    campaign_id = setup(e, n=1)
    human = e.cli("campaigns", "show", campaign_id).stdout
    lines = dict(line.strip().split(": ", 1) for line in human.splitlines())
    assert lines["lists"] == "news (#1)"
    assert lines["status"] == "draft"
    assert lines["to_send"] == "0"
    assert lines["started_at"] == "-"
    shown = e.show(campaign_id)
    assert shown["lists"] == [1]
    assert shown["list_names"] == ["news"]


def test_preview_and_test_send(tmp_path: Path) -> None:
    port = free_port()
    e = make_env(tmp_path, port)
    campaign_id = setup(e)
    preview = e.cli("campaigns", "preview", campaign_id, "--subscriber", "user1@example.com")
    assert "Subject: Hi User" in preview.stdout
    assert "X-Tag: c" in preview.stdout
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in preview.stdout
    with capture_server(port, e.mail):
        sent = e.cli(
            "campaigns",
            "test",
            campaign_id,
            "--to",
            "user2@example.com",
            "--to",
            "outsider@example.org",
        )
        assert sent.stdout.count(": sent via") == 2
    got = {
        str(msg["To"].addresses[0].addr_spec): msg
        for msg in (
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in e.mail.glob("*.eml")
        )
    }
    assert set(got) == {"user2@example.com", "outsider@example.org"}
    assert got["user2@example.com"]["Subject"] == "Hi User"
    shown = e.show(campaign_id)
    assert (shown["status"], shown["to_send"], shown["sent"]) == ("draft", 0, 0)  # no ledger


@pytest.mark.slow
def test_json_logs_and_sighup_reload_of_the_rate(tmp_path: Path) -> None:
    port = free_port()
    e = make_env(tmp_path, port, message_rate=4)
    e.env["CAMPAIGND_LOG__FORMAT"] = "json"
    campaign_id = setup(e, n=40)
    e.cli("campaigns", "start", campaign_id)
    config = Path(e.env["CAMPAIGND_CONFIG"])
    with capture_server(port, e.mail):
        proc = e.daemon()
        deadline = time.monotonic() + 30
        while e.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        # At 4/s the 40 messages would need 10 s; reload to a fast rate.
        config.write_text(config.read_text().replace("message_rate = 4", "message_rate = 1000"))
        started = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        while e.count() < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        fast = time.monotonic() - started
        # The last outcomes are committed and the campaign marked finished just after the sink
        # has the messages: wait for that before stopping.
        while e.show(campaign_id)["status"] != "finished" and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert e.count() == 40
    assert fast < 5.0
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    actions = [r["action"] for r in records]
    assert "reload" in actions
    assert "campaign.finished" in actions
    assert all({"time", "level", "message"} <= r.keys() for r in records)


@contextlib.contextmanager
def refusing_server(port: int) -> Iterator[None]:
    """An SMTP server that answers every connection with 421 and hangs up."""

    class Refuse(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(b"421 4.3.2 Service not available, closing channel\r\n")

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("down", ["closed port", "421 to everything"])
def test_all_servers_down_pauses_with_the_reason_and_loses_nobody(
    tmp_path: Path, down: str
) -> None:
    port = free_port()
    e = make_env(tmp_path, port, pause_after_unreachable="2s", max_send_errors=0, message_rate=0)
    campaign_id = setup(e, n=20)
    e.cli("campaigns", "start", campaign_id)
    with refusing_server(port) if down.startswith("421") else contextlib.nullcontext():
        started = time.monotonic()
        e.cli("run", "--until-idle")  # returns once the campaign paused
        elapsed = time.monotonic() - started
    shown = e.show(campaign_id)
    assert shown["status"] == "paused"
    reason = str(shown["pause_reason"])
    assert reason.startswith("all SMTP servers of messenger email unreachable since"), reason
    assert ("421" if down.startswith("421") else "refused") in reason
    # Counts are of recipients, and nobody is failed: all wait for a retry.
    assert (shown["to_send"], shown["sent"], shown["failed"], shown["unknown"]) == (20, 0, 0, 0)
    assert shown["pending"] + shown["deferred"] == 20  # type: ignore[operator]
    assert elapsed < 2 + 5 + 15  # the bound, one retry interval, start-up and shutdown

    e.cli("campaigns", "resume", campaign_id)
    with capture_server(port, e.mail):
        e.cli("run", "--until-idle")
    assert e.received() == {f"user{i}@example.com": 1 for i in range(20)}
    assert e.show(campaign_id)["status"] == "finished"


def setup_attributes(e: Env) -> str:
    """Three subscribers, one with a city; a campaign printing the city."""
    e.cli("db", "upgrade")
    e.cli("lists", "create", "news")
    (e.root / "subs.csv").write_text(
        'email,name,attributes\na@example.com,A,"{""city"": ""Oslo""}"\n'
        "b@example.com,B,{}\nc@example.com,C,\n"
    )
    e.cli("subscribers", "import", str(e.root / "subs.csv"), "--list", "news")
    body = e.root / "body.html"
    body.write_text("<p>Hello from [{{ subscriber.attributes.city }}]</p>")
    return e.cli(
        "campaigns", "create", "--name", "c", "--subject", "News", "--list", "news",
        "--body-file", str(body),
    ).stdout.strip()  # fmt: skip


def test_start_under_fail_counts_lacking_attributes_and_refuses_unless_forced(
    tmp_path: Path,
) -> None:
    port = free_port()
    e = make_env(tmp_path, port, missing_attributes="fail")
    campaign_id = setup_attributes(e)
    warning = "warning: 2 recipients lack attribute 'city' (used in body)"
    for action in (["start"], ["schedule", "--send-at", "2099-01-01T09:00:00Z"]):
        refused = e.cli("campaigns", *action[:1], campaign_id, *action[1:], check=False)
        assert refused.returncode == 1, refused.stderr
        assert warning in refused.stderr
        assert 'app.missing_attributes = "fail"' in refused.stderr
        assert "--force" in refused.stderr
        assert e.show(campaign_id)["status"] == "draft"

    sample = e.cli("campaigns", "preview", campaign_id).stdout
    assert sample.startswith("X-Campaignd-Preview: sample data (no --subscriber given)")
    assert "Hello from [[city]]" in sample
    outsider = e.cli("campaigns", "preview", campaign_id, "--subscriber", "x@example.org")
    assert "sample data (x@example.org is not a subscriber)" in outsider.stdout
    lacking = e.cli("campaigns", "preview", campaign_id, "--subscriber", "b@example.com").stdout
    assert lacking.startswith(
        "X-Campaignd-Preview: data of subscriber b@example.com; lacks attribute city: "
        "rendered empty here; sending to this subscriber fails"
    )
    assert "Hello from []" in lacking
    full = e.cli("campaigns", "preview", campaign_id, "--subscriber", "a@example.com").stdout
    assert full.startswith("X-Campaignd-Preview: data of subscriber a@example.com\n")
    assert "Hello from [Oslo]" in full

    forced = e.cli("campaigns", "start", campaign_id, "--force")
    assert warning in forced.stderr
    assert "is running" in forced.stdout
    with capture_server(port, e.mail):
        e.cli("run", "--until-idle")
    assert e.received() == {"a@example.com": 1}
    failures = json.loads(e.cli("campaigns", "failures", campaign_id, "--json").stdout)
    assert sorted(f["email"] for f in failures) == ["b@example.com", "c@example.com"]
    assert all("has no attribute 'city'" in f["text"] for f in failures)


def test_start_under_blank_warns_then_sends_everyone_with_the_attribute_empty(
    tmp_path: Path,
) -> None:
    port = free_port()
    e = make_env(tmp_path, port)
    campaign_id = setup_attributes(e)
    started = e.cli("campaigns", "start", campaign_id)
    assert (
        "warning: 2 recipients lack attribute 'city' (used in body); it renders empty for them"
    ) in started.stderr
    with capture_server(port, e.mail):
        e.cli("run", "--until-idle")
    assert e.received() == {f"{x}@example.com": 1 for x in "abc"}
    bodies = "".join(p.read_text() for p in e.mail.glob("*.eml"))
    assert bodies.count("<p>Hello from []</p>") == 2 and "<p>Hello from [Oslo]</p>" in bodies


def test_a_test_send_whose_render_fails_names_the_address(tmp_path: Path) -> None:
    port = free_port()
    e = make_env(tmp_path, port, missing_attributes="fail")
    campaign_id = setup_attributes(e)
    with capture_server(port, e.mail):
        sent = e.cli(
            "campaigns", "test", campaign_id,
            "--to", "a@example.com", "--to", "b@example.com", "--to", "x@example.org",
            check=False,
        )  # fmt: skip
    assert sent.returncode == 1
    assert "a@example.com: sent via" in sent.stdout
    assert "x@example.org: sent via" in sent.stdout  # sample data has every attribute
    lines = sent.stderr.strip().splitlines()
    assert len(lines) == 1, sent.stderr
    assert lines[0].startswith("b@example.com: not sent, render failed (subscriber #2): ")
    assert "city" in lines[0]
    assert e.received() == {"a@example.com": 1, "x@example.org": 1}
