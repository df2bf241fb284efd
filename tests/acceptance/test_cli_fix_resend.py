"""The documented flow "fix a campaign and re-send to the failed": pause, update, retry-failed,
resume, against a capture SMTP server that rejects messages carrying a blocked link."""

from __future__ import annotations

import contextlib
import email
import email.policy
import itertools
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

from tests.acceptance.helpers import free_port, make_env

BLOCKED = b"bad.example"


@contextlib.contextmanager
def filtering_capture_server(port: int, outdir: Path) -> Iterator[None]:
    """Plain SMTP on 127.0.0.1: a message containing BLOCKED gets 554 5.7.1 after its final
    "." (as a provider's content filter); any other becomes an .eml file in `outdir`."""
    seq = itertools.count(1)

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: bytes) -> None:
            self.wfile.write(line + b"\r\n")
            self.wfile.flush()

        def handle(self) -> None:
            self.reply(b"220 filter ESMTP")
            while line := self.rfile.readline():
                verb = line.strip().split(b" ", 1)[0].upper()
                if verb == b"EHLO":
                    self.reply(b"250-filter\r\n250 8BITMIME")
                elif verb == b"QUIT":
                    self.reply(b"221 bye")
                    return
                elif verb == b"DATA":
                    self.reply(b"354 go ahead")
                    data = b"".join(iter(self.rfile.readline, b".\r\n"))
                    if BLOCKED in data:
                        self.reply(b"554 5.7.1 message rejected: blocked link")
                        continue
                    (outdir / f"{next(seq):06d}.eml").write_bytes(data)
                    self.reply(b"250 2.0.0 queued")
                else:  # HELO, MAIL, RCPT, RSET, NOOP
                    self.reply(b"250 ok")

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def bodies(mail: Path) -> dict[str, str]:
    out = {}
    for path in mail.glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = msg.get_body(("html",))
        assert part is not None
        out[str(msg["To"].addresses[0].addr_spec)] = str(part.get_content())
    return out


def test_pause_update_retry_failed_resume(tmp_path: Path) -> None:
    port = free_port()
    # Two rejected messages in a row pause the campaign (as a provider refusing our content).
    e = make_env(tmp_path, port, concurrency=1, message_rate=20, max_send_errors=2)
    e.cli("db", "upgrade")
    e.cli("lists", "create", "news")
    rows = "".join(
        f'{kind}{i}@example.com,{kind} {i},"{{""offer"": {str(kind == "vip").lower()}}}"\n'
        for kind, i in [("vip", 0), ("vip", 1), *(("user", n) for n in range(20))]
    )
    (tmp_path / "subs.csv").write_text("email,name,attributes\n" + rows)
    e.cli("subscribers", "import", str(tmp_path / "subs.csv"), "--list", "news")
    body = tmp_path / "body.html"
    body.write_text(
        "<p>Hello {{ subscriber.name }}</p>{% if subscriber.attributes.offer %}"
        '<a href="https://bad.example/offer">offer</a>{% endif %}'
    )
    campaign_id = e.cli(
        "campaigns", "create", "--name", "c", "--subject", "News", "--list", "news",
        "--body-file", str(body),
    ).stdout.strip()  # fmt: skip
    e.cli("campaigns", "start", campaign_id)

    with filtering_capture_server(port, e.mail):
        e.cli("run", "--until-idle")  # returns once the campaign paused itself
        shown = e.show(campaign_id)
        assert shown["status"] == "paused", shown
        assert "max_send_errors=2" in str(shown["pause_reason"])
        assert shown["failed"] == 2
        failures = e.cli("campaigns", "failures", campaign_id, "--csv").stdout
        assert "blocked link" in failures and "vip0@example.com" in failures

        # The flow: (pause: it paused itself) -> update -> retry-failed -> resume.
        body.write_text(
            "<p>Hello {{ subscriber.name }}</p>{% if subscriber.attributes.offer %}"
            '<a href="https://good.example/offer">offer</a>{% endif %}'
        )
        e.cli("campaigns", "update", campaign_id, "--body-file", str(body))
        queued = e.cli("campaigns", "retry-failed", campaign_id).stdout
        assert queued.startswith("2 failed recipients queued again")
        e.cli("campaigns", "resume", campaign_id)
        e.cli("run", "--until-idle")

    shown = e.show(campaign_id)
    assert (shown["status"], shown["sent"], shown["failed"]) == ("finished", 22, 0)
    got = bodies(e.mail)
    everyone = {
        "vip0@example.com",
        "vip1@example.com",
        *(f"user{n}@example.com" for n in range(20)),
    }
    assert set(got) == everyone
    assert len(list(e.mail.glob("*.eml"))) == 22  # each once: nobody got a duplicate
    assert all("good.example/offer" in got[f"vip{i}@example.com"] for i in range(2))
    assert not any("offer" in text for addr, text in got.items() if addr.startswith("user"))

    # A finished campaign can be deleted with its ledger; the subscribers stay.
    out = e.cli("campaigns", "delete", campaign_id, "--yes").stdout
    assert out.startswith(f"deleted campaign {campaign_id} 'c'")
    assert e.cli("campaigns", "ls", "--json").stdout.strip() == "[]"
    assert e.cli("campaigns", "failures", campaign_id, check=False).returncode == 1
    shown_sub = e.cli("subscribers", "show", "vip0@example.com", "--json").stdout
    assert '"vip0@example.com"' in shown_sub
