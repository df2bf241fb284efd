"""End to end (issue 21): the daemon sends a campaign with VERP envelope senders to a capture
server, then its inbound SMTP receiver takes a DSN for one recipient and a mailto unsubscribe
from another: one is bounced (blocklisted, the bounce recorded with the campaign), the other
unsubscribed. Hostile mail (a forged token, another domain, a relay attempt, an oversized
message) is refused and changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import re
import signal
import smtplib
import sqlite3
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.acceptance.helpers import Env, free_port, make_env
from tests.support.smtpd import SmtpTestServer

pytestmark = pytest.mark.slow

DATA = Path(__file__).parents[1] / "data" / "inbound"
VERP = re.compile(r"^bounces\+([a-z2-7]{48})@example\.com$")


def deliver(port: int, rcpt: str, data: bytes, sender: str = "") -> tuple[int, bytes]:
    """One SMTP transaction to the receiver: the first refusal's reply, else DATA's."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("mx.example.net")
        code, reply = client.mail(sender)
        if code != 250:
            return code, reply
        code, reply = client.rcpt(rcpt)
        if code != 250:
            return code, reply
        return client.data(data)


def subscriber(e: Env, address: str) -> dict[str, object]:
    out: dict[str, object] = json.loads(e.cli("subscribers", "show", address, "--json").stdout)
    return out


def state(e: Env, address: str) -> tuple[object, tuple[object, ...]]:
    found = subscriber(e, address)
    subs = found["subscriptions"]
    assert isinstance(subs, list)
    return found["status"], tuple(s["status"] for s in subs)


def bounces(db: Path) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT s.email, b.campaign_id, b.type, b.source, b.reason FROM bounces b "
            "JOIN subscribers s ON s.id = b.subscriber_id ORDER BY b.id"
        ).fetchall()


def dsn_for(address: str, verp: str) -> bytes:
    """The Postfix 'user unknown' report of the corpus, about `address`, sent to `verp`."""
    raw = (DATA / "postfix-user-unknown.eml").read_bytes().replace(b"\r\n", b"\n")
    raw = raw.split(b"\n", 1)[1]  # the Return-Path line a mailbox added
    raw = raw.replace(b"nobody.here@example.org", address.encode())
    raw = raw.replace(b"bounces+k3j2h1g0@news.example.com", verp.encode())
    return raw.replace(b"\n", b"\r\n")


async def test_dsn_and_mailto_unsubscribe_arrive_by_smtp(tmp_path: Path) -> None:
    inbound_port = free_port()
    async with SmtpTestServer() as capture:
        e = make_env(
            tmp_path,
            capture.port,
            root_url="https://news.example.com",
            unsubscribe_mailto="unsubscribe@example.com",
            extra=f"""
[bounces]
return_path = "bounces@example.com"

[inbound]
enabled = true
listen = "127.0.0.1:{inbound_port}"
max_message_size = 100000
""",
        )
        await asyncio.to_thread(e.cli, "db", "upgrade")
        await asyncio.to_thread(e.cli, "lists", "create", "news")
        people = ["ann@example.org", "bob@example.org", "cat@example.org"]
        for address in people:
            await asyncio.to_thread(
                e.cli, "subscribers", "add", address, "--list", "news", "--status", "confirmed"
            )
        body = tmp_path / "body.html"
        body.write_text("<p>Hello {{ subscriber.name }}</p>")
        campaign_id = (
            await asyncio.to_thread(
                e.cli, "campaigns", "create", "--name", "May", "--subject", "May", "--list",
                "news", "--body-file", str(body),
            )
        ).stdout.strip()  # fmt: skip
        await asyncio.to_thread(e.cli, "campaigns", "start", campaign_id)

        daemon = e.daemon()
        err = ""
        try:
            for _ in range(300):
                if len(capture.messages) == 3:
                    break
                await asyncio.sleep(0.1)
            assert len(capture.messages) == 3

            # Each message's MAIL FROM is its own VERP address; the mailto carries the token.
            sender_of: dict[str, str] = {}
            mailto_of: dict[str, str] = {}
            for m in capture.messages:
                (to,) = m.rcpt_tos
                token = VERP.match(m.mail_from)
                assert token is not None, m.mail_from
                msg = email.message_from_bytes(m.data, policy=email.policy.default)
                assert "Return-Path" not in msg
                mailto = re.findall(r"<mailto:([^?>]+)\?", str(msg["List-Unsubscribe"]))
                assert mailto == [f"unsubscribe+{token.group(1)}@example.com"]
                sender_of[to], mailto_of[to] = m.mail_from, mailto[0]
            assert len(set(sender_of.values())) == 3

            before = {p: await asyncio.to_thread(state, e, p) for p in people}
            assert set(before.values()) == {("enabled", ("confirmed",))}
            bob = sender_of["bob@example.org"]
            dsn = dsn_for("bob@example.org", bob)

            # Hostile: refused at RCPT or DATA, nothing changes.
            token = VERP.match(bob)
            assert token is not None
            t = token.group(1)
            forged = f"bounces+{t[:20]}{'a' if t[20] != 'a' else 'b'}{t[21:]}@example.com"
            refused = [
                await asyncio.to_thread(deliver, inbound_port, forged, dsn),
                await asyncio.to_thread(
                    deliver, inbound_port, bob.replace("@example.com", "@other.example"), dsn
                ),
                await asyncio.to_thread(deliver, inbound_port, "victim@example.net", dsn),
                await asyncio.to_thread(
                    deliver, inbound_port, f"unsubscribe+{t.upper()}@example.org", dsn
                ),
            ]
            assert [code for code, _ in refused] == [550, 550, 550, 550]
            assert all(b"5.1.1" in reply for _, reply in refused)
            huge = dsn + b"X-Padding: " + b"x" * 900 + b"\r\n" + (b"y" * 998 + b"\r\n") * 120
            code, _ = await asyncio.to_thread(deliver, inbound_port, bob, huge)
            assert code == 552
            assert await asyncio.to_thread(bounces, tmp_path / "c.db") == []
            assert {p: await asyncio.to_thread(state, e, p) for p in people} == before

            # The DSN for bob, delivered twice (two MX hosts): one hard bounce, blocklisted.
            assert (await asyncio.to_thread(deliver, inbound_port, bob, dsn))[0] == 250
            assert (await asyncio.to_thread(deliver, inbound_port, bob.upper(), dsn))[0] == 250
            assert await asyncio.to_thread(state, e, "bob@example.org") == (
                "blocklisted",
                ("unsubscribed",),
            )
            recorded = await asyncio.to_thread(bounces, tmp_path / "c.db")
            assert [r[:4] for r in recorded] == [
                ("bob@example.org", int(campaign_id), "hard", "mail")
            ]
            assert "5.1.1" in str(recorded[0][4])

            # cat's client uses the mailto of List-Unsubscribe.
            request = EmailMessage()
            request["From"] = "Cat <cat@example.org>"
            request["To"] = mailto_of["cat@example.org"]
            request["Subject"] = "unsubscribe"
            request.set_content("This message was automatically generated by Gmail.")
            code, _ = await asyncio.to_thread(
                deliver,
                inbound_port,
                mailto_of["cat@example.org"],
                request.as_bytes().replace(b"\n", b"\r\n"),
                "cat@example.org",
            )
            assert code == 250
            assert await asyncio.to_thread(state, e, "cat@example.org") == (
                "enabled",
                ("unsubscribed",),
            )
            assert await asyncio.to_thread(state, e, "ann@example.org") == before["ann@example.org"]
        finally:
            daemon.send_signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                _, err = await asyncio.to_thread(daemon.communicate, timeout=60)
        assert daemon.returncode == 0, err
        assert "0123456789abcdef0123456789abcdef" not in err
