"""campaignd's SMTP messenger against a real MTA: Postfix submission (STARTTLS, Cyrus SASL
PLAIN/LOGIN/CRAM-MD5, PIPELINING) relaying to a recording server, with swaks as the reference
client. Postfix is installed, configured and started privately by tests/mta/conftest.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ssl
import subprocess
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from campaignd.config import AppSettings, SmtpSettings
from campaignd.domain import Campaign, CampaignStatus, ContentType, OutcomeKind, Recipient
from campaignd.errors import ConnectFailure
from campaignd.messengers import transaction
from campaignd.messengers.pool import SmtpMessenger
from campaignd.messengers.server import SmtpServer
from campaignd.rendering.compose import CampaignMailer
from campaignd.replies import classify
from tests.mta.postfix import ACCOUNT, REALM, Postfix, Recorder, Relayed
from tests.support.certs import TestCA

NOW = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
APP = AppSettings(root_url="https://news.example.com", unsubscribe_mailto="leave@example.com")
SENDER = "news@acme.example"
BODY = "Grüße aus Köln! Naïve café, 日本語のテキスト, emoji 📬."
#: A hand-made 8-bit message (raw UTF-8, not encoded) with a line that needs dot-stuffing.
EIGHT_BIT = (
    "Date: Wed, 06 May 2026 07:08:09 +0000\r\n"
    "From: ACME News <news@acme.example>\r\n"
    "To: Ada <ada@example.org>\r\n"
    "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    "Message-ID: <eight-bit.1@acme.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "List-Unsubscribe: <https://news.example.com/unsubscribe/t0k3n>,\r\n"
    " <mailto:leave@example.com>\r\n"
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    f"{BODY}\r\n"
    ".a line that starts with a dot\r\n"
    "..and one with two\r\n"
    "\r\n"
    "-- \r\n"
    "Tschüß\r\n"
).encode()

MECHANISMS = ["plain", "login", "cram"]
LOGGED_MECHANISM = {"plain": "PLAIN", "login": "LOGIN", "cram": "CRAM-MD5"}


# -- helpers ---------------------------------------------------------------------------------


def trusting(test_ca: TestCA) -> Callable[[SmtpSettings], ssl.SSLContext]:
    """A context factory that verifies Postfix's certificate against the test CA only."""

    def factory(settings: SmtpSettings) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        test_ca.ca.configure_trust(context)
        return context

    return factory


def smtp_server(postfix: Postfix, test_ca: TestCA, **overrides: Any) -> SmtpServer:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": postfix.port,
        "tls_type": "STARTTLS",
        "auth_protocol": "plain",
        "username": ACCOUNT.username,
        "password": ACCOUNT.password,
        "hello_hostname": "client.campaignd.test",
        "timeout": 10.0,
        "msg_retry_delay": 0,
    }
    values.update(overrides)
    # A long back-off: a server set aside stays aside for the whole test (no timing).
    return SmtpServer(SmtpSettings(**values), context_factory=trusting(test_ca), backoff_base=60.0)


def compose(to: str, name: str = "Ada Lovelace") -> tuple[str, bytes]:
    """(Message-ID, message) as the dispatcher builds it: multipart, QP, List-Unsubscribe."""
    campaign = Campaign(
        id=7,
        uuid=uuid.UUID("0f0e0d0c-0b0a-0908-0706-050403020100"),
        name="Weekly",
        subject="Grüße, {{ subscriber.first_name }} — die Woche",
        from_email="ACME News <news@acme.example>",
        body=f"<h1>Hallo {{{{ subscriber.name }}}}</h1><p>{BODY}</p>"
        '<p><a href="{{ unsubscribe_url() }}">Abmelden</a></p>',
        alt_body=None,
        content_type=ContentType.HTML,
        template_id=None,
        messenger="email",
        headers=(("X-Mailgun-Tag", "weekly"),),
        tags=("news",),
        status=CampaignStatus.RUNNING,
        send_at=None,
        list_ids=(1,),
        created_at=NOW,
        updated_at=NOW,
    )
    mailer = CampaignMailer.prepare(campaign, None, APP, "a-signing-secret-of-some-length")
    recipient = Recipient(1, 7, 3, uuid.uuid4(), to, name, {}, 0)
    return mailer.build(recipient, NOW)


def header_fields(data: bytes) -> list[tuple[str, bytes]]:
    return Relayed("", (), (), data).header_fields()


def without_trace(fields: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(n, v) for n, v in fields if n not in ("received", "return-path")]


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(data: bytes) -> str:
    part = parse(data).get_body(("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def by_message_id(messages: list[Relayed]) -> dict[str, list[Relayed]]:
    found: dict[str, list[Relayed]] = {}
    for m in messages:
        found.setdefault(str(parse(m.data)["Message-ID"]), []).append(m)
    return found


# Waits run in a thread: the event loop must keep going (closing sockets, for one).


async def wait_relayed(recorder: Recorder, count: int) -> list[Relayed]:
    return await asyncio.to_thread(recorder.wait_for, count)


async def nothing_relayed(recorder: Recorder) -> bool:
    """True if nothing reaches the recorder within a second (Postfix relays in milliseconds)."""
    return await asyncio.to_thread(recorder.wait_for, 1, 1.0) == []


async def disconnects(
    postfix: Postfix, mark: int, count: int, service: str = "submission"
) -> list[dict[str, str]]:
    return await asyncio.to_thread(postfix.wait_for_disconnects, mark, count, service)


# -- 1. each SASL mechanism, message intact through the relay ----------------------------------


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_submission_with_each_mechanism_relays_the_message_intact(
    postfix: Postfix, relayed: Recorder, test_ca: TestCA, mechanism: str
) -> None:
    mark = postfix.mark()
    message_id, message = compose("ada@example.org")
    server = smtp_server(postfix, test_ca, auth_protocol=mechanism)
    m = SmtpMessenger("email", [server])
    try:
        outcome = await m.send(SENDER, ["ada@example.org"], message)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT, outcome
    assert outcome.code == 250 and "queued as" in outcome.text
    [got] = await wait_relayed(relayed, 1)
    assert got.mail_from == SENDER
    assert got.rcpt_tos == ("ada@example.org",)
    # Postfix put one Received line on top; everything campaignd wrote is there byte for byte.
    fields = header_fields(got.data)
    assert fields[0][0] == "received"
    assert b"with ESMTPSA" in fields[0][1]  # authenticated, over TLS
    assert without_trace(fields) == header_fields(message)
    assert got.body == message.split(b"\r\n\r\n", 1)[1]
    parsed = parse(got.data)
    assert parsed["Message-ID"] == message_id
    assert parsed["Subject"] == "Grüße, Ada — die Woche"
    assert parsed["List-Unsubscribe"].startswith("<https://news.example.com/unsubscribe/")
    assert parsed["List-Unsubscribe"].endswith(", <mailto:leave@example.com?subject=unsubscribe>")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert BODY in text_of(got.data)
    logged = f"sasl_method={LOGGED_MECHANISM[mechanism]}, sasl_username=news@{REALM}"
    assert logged in await asyncio.to_thread(postfix.wait_for_log, mark, logged)


async def test_an_eight_bit_body_is_relayed_unchanged(
    postfix: Postfix, relayed: Recorder, test_ca: TestCA
) -> None:
    m = SmtpMessenger("email", [smtp_server(postfix, test_ca)])
    try:
        outcome = await m.send(SENDER, ["ada@example.org"], EIGHT_BIT)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT, outcome
    [got] = await wait_relayed(relayed, 1)
    # Postfix passes it on as 8-bit (the recorder offers 8BITMIME): no conversion to QP.
    assert "BODY=8BITMIME" in got.mail_options
    assert without_trace(got.header_fields()) == header_fields(EIGHT_BIT)
    assert got.body == EIGHT_BIT.split(b"\r\n\r\n", 1)[1]  # dots unstuffed, UTF-8 untouched
    assert BODY in text_of(got.data)


# -- 2. wrong password ----------------------------------------------------------------------


async def test_wrong_password_is_one_auth_failure_not_a_retry_loop(
    postfix: Postfix, relayed: Recorder, test_ca: TestCA
) -> None:
    mark = postfix.mark()
    server = smtp_server(postfix, test_ca, password="wrong-password", max_msg_retries=3)
    m = SmtpMessenger("email", [server])
    try:
        first = await m.send(SENDER, ["ada@example.org"], compose("ada@example.org")[1])
        again = await m.send(SENDER, ["bob@example.org"], compose("bob@example.org")[1])
    finally:
        await m.close()
    assert first.auth_failed, first
    assert first.code == 535
    assert first.kind is OutcomeKind.TRANSIENT and first.connection_error
    assert "authentication failed" in first.text
    assert "wrong-password" not in first.text
    assert first.attempts == 1  # the server is set aside after the refusal, not hammered
    assert again.kind is OutcomeKind.TRANSIENT and again.connection_error
    assert again.attempts == 0  # failed at once: Postfix was not asked again
    assert "no server of messenger email is available" in again.text
    assert "535 5.7.8" in again.text  # the reason the server was set aside
    await disconnects(postfix, mark, 1)
    failures = postfix.since(mark).count("SASL PLAIN authentication failed")
    assert failures == 1, postfix.since(mark)
    assert await nothing_relayed(relayed)


async def test_a_send_refused_while_set_aside_for_bad_credentials_is_an_auth_failure(
    postfix: Postfix, relayed: Recorder, test_ca: TestCA
) -> None:
    m = SmtpMessenger("email", [smtp_server(postfix, test_ca, password="wrong-password")])
    try:
        first = await m.send(SENDER, ["ada@example.org"], compose("ada@example.org")[1])
        again = await m.send(SENDER, ["bob@example.org"], compose("bob@example.org")[1])
    finally:
        await m.close()
    assert first.auth_failed
    assert again.auth_failed, again


# -- 3. AUTH only after STARTTLS --------------------------------------------------------------


async def test_without_starttls_postfix_offers_no_auth_and_campaignd_says_so(
    postfix: Postfix, relayed: Recorder, test_ca: TestCA
) -> None:
    mark = postfix.mark()
    server = smtp_server(postfix, test_ca, tls_type="none")
    m = SmtpMessenger("email", [server])
    try:
        outcome = await m.send(SENDER, ["ada@example.org"], compose("ada@example.org")[1])
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.auth_failed and outcome.connection_error
    assert "does not offer AUTH on a plain connection" in outcome.text
    # What `campaignd messengers test` shows: the reason and the fix.
    probe = smtp_server(postfix, test_ca, tls_type="none")
    with pytest.raises(ConnectFailure) as failure:
        await probe.connect()
    assert failure.value.step == "auth"
    assert "STARTTLS" in failure.value.hint
    await disconnects(postfix, mark, 2)
    log = postfix.since(mark)
    assert "sasl_method" not in log and "starttls=" not in log
    assert await nothing_relayed(relayed)


async def test_unauthenticated_relay_is_refused_as_a_policy_failure(
    postfix: Postfix, relayed: Recorder, test_ca: TestCA
) -> None:
    server = smtp_server(postfix, test_ca, auth_protocol="none", username="")
    m = SmtpMessenger("email", [server])
    try:
        outcome = await m.send(SENDER, ["ada@example.org"], compose("ada@example.org")[1])
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.PERMANENT, outcome
    assert (outcome.code, outcome.enhanced) == (554, "5.7.1")
    assert "Recipient address rejected: Access denied" in outcome.text
    verdict = classify(outcome.code, outcome.text)
    assert verdict.sender_fault and verdict.bounce is None  # our setup, not the recipient
    assert await nothing_relayed(relayed)


# -- 4. several messages, one pooled connection ---------------------------------------------------


@pytest.mark.parametrize("service", ["submission", "nopipelining"])
async def test_many_messages_share_one_connection(
    postfix: Postfix,
    relayed: Recorder,
    test_ca: TestCA,
    service: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipelining = service == "submission"
    pipelined = spy_on_pipelining(monkeypatch)
    port = postfix.port if pipelining else postfix.port_nopipe
    mark = postfix.mark()
    count = 6
    messages = [compose(f"reader{i}@example.org", f"Reader {i}") for i in range(count)]
    server = smtp_server(postfix, test_ca, port=port, max_conns=1)
    probe = await server.connect()
    try:
        assert probe.supports_extension("pipelining") is pipelining
    finally:
        probe.close()
    m = SmtpMessenger("email", [server])
    try:
        outcomes = await asyncio.gather(
            *(
                m.send(SENDER, [f"reader{i}@example.org"], data)
                for i, (_, data) in enumerate(messages)
            )
        )
    finally:
        await m.close()
    assert [o.kind for o in outcomes] == [OutcomeKind.SENT] * count, outcomes
    assert len({o.text for o in outcomes}) == count  # a queue id each
    got = by_message_id(await wait_relayed(relayed, count))
    assert sorted(got) == sorted(mid for mid, _ in messages)
    assert all(len(copies) == 1 for copies in got.values())
    for mid, data in messages:
        [copy] = got[mid]
        assert copy.body == data.split(b"\r\n\r\n", 1)[1]
    assert server.peak_connections == 1
    # The probe, then one connection that carried every transaction and ended with QUIT.
    found = await disconnects(postfix, mark, 2, service)
    [probed, session] = sorted(found, key=lambda counts: "mail" in counts)
    assert "mail" not in probed
    assert session["auth"] == "1"
    assert (session["mail"], session["rcpt"], session["data"]) == (str(count),) * 3
    assert session["quit"] == "1"
    # MAIL, RCPT and DATA went in one write exactly where Postfix offered PIPELINING. (Postfix
    # 3.7 logs "improper command pipelining" only at some stages, not for a MAIL/RCPT/DATA
    # batch: the spy is what proves the path.)
    assert pipelined == ([True] * count if pipelining else [])
    assert "improper command pipelining" not in postfix.since(mark)


def spy_on_pipelining(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Note each transaction that takes the pipelined path (True once it got a 354)."""
    calls: list[bool] = []
    real = transaction._pipelined

    async def spy(*args: Any, **kwargs: Any) -> transaction.Delivery:
        delivery = await real(*args, **kwargs)
        calls.append(delivery.outcome.kind is OutcomeKind.SENT)
        return delivery

    monkeypatch.setattr(transaction, "_pipelined", spy)
    return calls


# -- 5. swaks as the reference client ----------------------------------------------------------


def swaks(postfix: Postfix, data_file: Path, to: str) -> str:
    done = subprocess.run(
        [
            "swaks",
            "--server", "127.0.0.1",
            "--port", str(postfix.port),
            "--tls",
            "--auth", "PLAIN",
            "--auth-user", ACCOUNT.username,
            "--auth-password", ACCOUNT.password,
            "--helo", "client.campaignd.test",
            "--from", SENDER,
            "--to", to,
            "--data", f"@{data_file}",
            "--hide-all",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("kind", ["composed", "8bit"])
async def test_campaignd_and_swaks_deliver_the_same_message(
    postfix: Postfix, relayed: Recorder, test_ca: TestCA, tmp_path: Path, kind: str
) -> None:
    message = compose("ada@example.org")[1] if kind == "composed" else EIGHT_BIT
    # swaks ends DATA with "\r\n.\r\n" after the file, and dot-stuffs it itself: give it the
    # message without its last line end, as `swaks --data` expects.
    data_file = tmp_path / "message.eml"
    data_file.write_bytes(message.removesuffix(b"\r\n"))
    swaks(postfix, data_file, "ada@example.org")
    [by_swaks] = await wait_relayed(relayed, 1)
    relayed.clear()
    m = SmtpMessenger("email", [smtp_server(postfix, test_ca, auth_protocol="plain")])
    try:
        outcome = await m.send(SENDER, ["ada@example.org"], message)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT, outcome
    [by_campaignd] = await wait_relayed(relayed, 1)
    assert (by_campaignd.mail_from, by_campaignd.rcpt_tos) == (
        by_swaks.mail_from,
        by_swaks.rcpt_tos,
    )
    assert without_trace(by_campaignd.header_fields()) == without_trace(by_swaks.header_fields())
    assert by_campaignd.body == by_swaks.body
    assert by_campaignd.data.split(b"\r\n", 3)[3] == by_swaks.data.split(b"\r\n", 3)[3]
    # campaignd declares an 8-bit body to Postfix (BODY=8BITMIME, RFC 6152) and swaks does
    # not, but Postfix relays both the same way: BODY=8BITMIME for 8-bit content, and SIZE.
    assert by_campaignd.mail_options == by_swaks.mail_options
    assert ("BODY=8BITMIME" in by_campaignd.mail_options) is (kind == "8bit")


# -- 6. a recipient Postfix refuses ---------------------------------------------------------------


async def test_refused_recipient_is_permanent_and_the_next_one_goes_through(
    postfix: Postfix, relayed: Recorder, test_ca: TestCA
) -> None:
    mark = postfix.mark()
    server = smtp_server(postfix, test_ca, max_conns=1)
    m = SmtpMessenger("email", [server])
    try:
        refused = await m.send(SENDER, ["nobody@example.net"], compose("nobody@example.net")[1])
        mid, data = compose("ada@example.org")
        sent = await m.send(SENDER, ["ada@example.org"], data)
    finally:
        await m.close()
    assert refused.kind is OutcomeKind.PERMANENT, refused
    assert (refused.code, refused.enhanced) == (550, "5.1.1")
    assert "no such user" in refused.text
    assert refused.attempts == 1
    assert sent.kind is OutcomeKind.SENT, sent
    [got] = await wait_relayed(relayed, 1)
    assert got.rcpt_tos == ("ada@example.org",)
    assert parse(got.data)["Message-ID"] == mid
    # Both on one connection: the refused transaction was reset, not the connection dropped.
    [session] = await disconnects(postfix, mark, 1)
    assert session["rcpt"] == "1/2"
    assert session["data"] in ("1", "1/2")
    assert session["quit"] == "1"
