"""DKIM through a real send: the daemon (memory store) sends to an aiosmtpd server, and dkimpy
verifies what arrived against the TXT record campaignd says to publish (RSA-2048, Ed25519).
Also: the campaign's and the server's headers are covered, a tampered message fails, a From
domain without a key goes unsigned, a bad key stops the daemon before anything is sent, and a
message is signed once per distinct set of server headers, not once per attempt."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from pydantic import SecretStr

from campaignd.config import (
    AppSettings,
    DkimSettings,
    Header,
    SecuritySettings,
    Settings,
    SmtpSettings,
)
from campaignd.daemon.service import Daemon
from campaignd.domain import CampaignStatus, NewCampaign, OptIn, utcnow
from campaignd.errors import ConfigError
from campaignd.messengers.pool import SmtpMessenger
from campaignd.messengers.server import SmtpServer
from campaignd.rendering.dkim import signer_from_settings
from campaignd.store.memory import MemoryStore
from tests.integration.store_fixtures import subscriber
from tests.support.smtpd import SmtpTestServer


def write_key(path: Path, kind: str) -> Path:
    key = (
        rsa.generate_private_key(65537, 2048)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def settings(server: SmtpTestServer, key_file: Path) -> Settings:
    return Settings(
        app=AppSettings(
            message_rate=0,
            concurrency=4,
            batch_size=10,
            poll_interval=0.02,
            from_email="News <news@example.com>",
            feedback_id_sender="newsletter",
            precedence_bulk=True,
        ),
        security=SecuritySettings(secret=SecretStr("k" * 32)),
        dkim=(DkimSettings(domain="example.com", selector="s2026", private_key_file=key_file),),
        smtp=(
            SmtpSettings(
                host=server.host,
                port=server.port,
                tls_type="none",  # type: ignore[arg-type]
                auth_protocol="none",  # type: ignore[arg-type]
                max_conns=2,
                # Merged by the messenger: signed only if signing comes after the merge.
                email_headers=(Header(name="Reply-To", value="replies@example.com"),),
            ),
        ),
    )


async def send_campaign(store: MemoryStore, cfg: Settings, from_email: str, n: int = 6) -> None:
    news = await store.create_list("news", OptIn.SINGLE, "")
    for i in range(n):
        await subscriber(store, f"u{i}@example.net", (news.id,), name=f"Reader  {i}")
    campaign = await store.create_campaign(
        NewCampaign(
            name="Weekly",
            subject="Weekly for {{ subscriber.name }}",
            from_email=from_email,
            body="<p>Hi {{ subscriber.name }},</p>\n<p>.a line with a dot</p>",
            lists=("news",),
            headers=(("X-Topic", "weekly for {{ subscriber.name }}"),),
        ),
        None,
    )
    await store.transition(
        campaign.id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=utcnow()
    )
    assert await Daemon(cfg, until_idle=True, store=store).run() == 0


def verifier(cfg: Settings) -> Callable[[bytes], bool]:
    signer = signer_from_settings(cfg.dkim)
    assert signer is not None
    key = signer.keys["example.com"]

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"{key.record_name}.".encode()
        return key.txt_value().encode("ascii")

    return lambda message: bool(dkim.verify(message, dnsfunc=dnsfunc))


def signed_names(message: bytes) -> set[str]:
    head = message.split(b"\r\n\r\n", 1)[0].decode("ascii")
    h_tag = re.search(r"DKIM-Signature:.*?\bh=([^;]*);", head, re.S | re.I)
    assert h_tag is not None
    return {name.strip().lower() for name in h_tag.group(1).split(":")}


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
async def test_sent_messages_verify_against_the_published_record(
    tmp_path: Path, smtp_servers: Callable[..., Any], kind: str
) -> None:
    server: SmtpTestServer = await smtp_servers()
    cfg = settings(server, write_key(tmp_path / "dkim.pem", kind))
    await send_campaign(MemoryStore(), cfg, "News <news@example.com>")
    verify = verifier(cfg)

    assert len(server.messages) == 6
    for captured in server.messages:
        message = captured.data
        assert message.startswith(b"DKIM-Signature: v=1; a=" + kind.encode())
        assert verify(message), message[:2000]
        assert signed_names(message) >= {
            "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
            "list-unsubscribe", "list-unsubscribe-post", "feedback-id", "precedence",
            "x-topic",  # the campaign's own header
            "reply-to",  # the server's email_headers: signed after the merge
        }  # fmt: skip
        assert b"\r\nFeedback-ID: " in message and b"\r\nPrecedence: bulk\r\n" in message

        body_at = message.index(b"\r\n\r\n") + 4
        tampered_body = message[:body_at] + message[body_at:].replace(b"Hi ", b"Hi! ", 1)
        assert tampered_body != message and not verify(tampered_body)
        tampered_header = message.replace(b"X-Topic: weekly", b"X-Topic: monthly", 1)
        assert tampered_header != message and not verify(tampered_header)
        added_from = message.replace(b"\r\nTo: ", b"\r\nFrom: <evil@example.org>\r\nTo: ", 1)
        assert not verify(added_from)  # From is oversigned


async def test_a_from_domain_without_a_key_goes_out_unsigned(
    tmp_path: Path, smtp_servers: Callable[..., Any]
) -> None:
    server: SmtpTestServer = await smtp_servers()
    cfg = settings(server, write_key(tmp_path / "dkim.pem", "ed25519"))
    await send_campaign(MemoryStore(), cfg, "Other <news@other.example.org>", n=2)
    assert len(server.messages) == 2
    assert all(b"DKIM-Signature" not in m.data for m in server.messages)


async def test_a_bad_key_stops_the_daemon_before_sending(
    tmp_path: Path, smtp_servers: Callable[..., Any]
) -> None:
    server: SmtpTestServer = await smtp_servers()
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    cfg = settings(server, bad)
    store = MemoryStore()
    with pytest.raises(ConfigError) as caught:
        await send_campaign(store, cfg, "News <news@example.com>", n=1)
    assert caught.value.key == "dkim[0]"
    assert str(bad) in str(caught.value) and "bm90IGEga2V5" not in str(caught.value)
    assert server.messages == []


async def test_a_retry_reuses_the_signature_unless_the_server_adds_other_headers(
    tmp_path: Path, smtp_servers: Callable[..., Any]
) -> None:
    def server(srv: SmtpTestServer, *headers: Header) -> SmtpServer:
        return SmtpServer(
            SmtpSettings(
                host=srv.host,
                port=srv.port,
                tls_type="none",  # type: ignore[arg-type]
                auth_protocol="none",  # type: ignore[arg-type]
                msg_retry_delay=0,
                email_headers=headers,
            )
        )

    signed: list[bytes] = []

    def sign(message: bytes) -> bytes:
        signed.append(message)
        return b"X-Signed: yes\r\n" + message

    message = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: s\r\n\r\nbody\r\n"
    one, two, three = await smtp_servers(), await smtp_servers(), await smtp_servers()
    one.faults.add("MAIL", "451 4.3.0 try later")
    pool = SmtpMessenger("email", [server(one), server(two)])
    outcome = await pool.send("a@example.com", ["b@example.net"], message, sign)
    assert outcome.kind.value == "sent" and outcome.attempts == 2
    assert len(signed) == 1  # tried on two servers adding the same (no) headers: signed once
    assert two.messages[0].data.startswith(b"X-Signed: yes\r\n")

    signed.clear()
    two.faults.add("MAIL", "451 4.3.0 try later")
    other = SmtpMessenger("email", [server(two), server(three, Header(name="X-Via", value="3"))])
    outcome = await other.send("a@example.com", ["b@example.net"], message, sign)
    assert outcome.kind.value == "sent" and len(signed) == 2
    assert signed[1].startswith(b"X-Via: 3\r\n")  # signed after that server's header went in
    await pool.close()
    await other.close()
