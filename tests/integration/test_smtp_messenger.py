"""The SMTP messenger against real aiosmtpd servers: TLS modes, AUTH, headers, faults, retries."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from campaignd.config import Settings, SmtpSettings
from campaignd.domain import OutcomeKind
from campaignd.messengers.pool import SmtpMessenger
from campaignd.messengers.registry import build_messengers, close_messengers
from campaignd.messengers.server import SmtpServer
from tests.support import SmtpTestServer, self_signed_context

pytest_plugins = ["tests.support.fixtures"]

MESSAGE = (
    b"From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nhello\r\n.leading dot\r\n"
)
Start = Callable[..., Any]


def settings_for(server: SmtpTestServer, **kw: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "tls_type": "none",
        "auth_protocol": "none",
        "timeout": 2.0,
        "msg_retry_delay": 0,
        "hello_hostname": "client.test",
    }
    values.update(kw)
    return SmtpSettings(**values)


def messenger(*servers: SmtpSettings, **server_kw: Any) -> SmtpMessenger:
    return SmtpMessenger("email", [SmtpServer(s, **server_kw) for s in servers])


async def send(m: SmtpMessenger, message: bytes = MESSAGE, to: str = "b@example.net") -> Any:
    return await m.send("a@example.org", [to], message)


# -- TLS modes and AUTH --------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["plain", "login", "cram"])
async def test_starttls_required_with_each_auth_mechanism(
    smtp_servers: Start,
    trusted_ca: Any,
    mechanism: str,
) -> None:
    user = "acme/production"
    srv = await smtp_servers(tls="starttls", users={user: "key-123"})
    m = messenger(
        settings_for(
            srv, tls_type="STARTTLS", auth_protocol=mechanism, username=user, password="key-123"
        )
    )
    try:
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT, outcome
    assert outcome.code == 250
    [captured] = srv.messages
    assert captured.login == user
    assert captured.tls
    assert captured.rcpt_tos == ("b@example.net",)
    assert captured.data.endswith(b"hello\r\n.leading dot\r\n")


async def test_implicit_tls_with_auth_login(smtp_servers: Start, trusted_ca: Any) -> None:
    srv = await smtp_servers(tls="implicit", users={"u": "p"})
    m = messenger(
        settings_for(srv, tls_type="TLS", auth_protocol="login", username="u", password="p")
    )
    try:
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT, outcome
    assert srv.messages[0].tls
    assert srv.messages[0].login == "u"


async def test_starttls_mode_refuses_a_server_without_starttls(smtp_server: SmtpTestServer) -> None:
    m = messenger(settings_for(smtp_server, tls_type="STARTTLS"))
    try:
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.connection_error
    assert "STARTTLS" in outcome.text
    assert smtp_server.messages == []


async def test_implicit_tls_against_a_plain_port_names_the_fix(smtp_server: SmtpTestServer) -> None:
    m = messenger(settings_for(smtp_server, tls_type="TLS"))
    try:
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.connection_error
    assert "TLS" in outcome.text
    assert smtp_server.messages == []


async def test_self_signed_certificate_is_rejected_unless_skip_verify(
    smtp_servers: Start,
    tmp_path: Path,
) -> None:
    srv = await smtp_servers(tls="starttls", tls_context=self_signed_context(tmp_path))
    strict = messenger(settings_for(srv, tls_type="STARTTLS"))
    lax = messenger(settings_for(srv, tls_type="STARTTLS", tls_skip_verify=True))
    try:
        refused = await send(strict)
        accepted = await send(lax)
    finally:
        await strict.close()
        await lax.close()
    assert refused.kind is OutcomeKind.TRANSIENT
    assert refused.connection_error
    assert "certificate not trusted" in refused.text
    assert accepted.kind is OutcomeKind.SENT
    assert len(srv.messages) == 1


async def test_wrong_password_is_an_auth_failure(smtp_servers: Start, trusted_ca: Any) -> None:
    srv = await smtp_servers(tls="starttls", users={"u": "right"})
    m = messenger(
        settings_for(
            srv, tls_type="STARTTLS", auth_protocol="plain", username="u", password="wrong"
        )
    )
    try:
        outcome = await send(m)
        # The server is now set aside: the next send is refused without trying it, and must
        # still say "auth failed" so the campaign pauses instead of deferring everyone.
        again = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.auth_failed
    assert outcome.connection_error
    assert outcome.code == 535
    assert "wrong" not in outcome.text  # never the password
    assert again.attempts == 0 and again.auth_failed and again.connection_error
    assert srv.messages == []


@pytest.mark.parametrize("mechanism", ["plain", "login", "cram"])
async def test_credentials_a_server_echoes_are_not_recorded(
    smtp_servers: Start, caplog: pytest.LogCaptureFixture, mechanism: str
) -> None:
    # The reply text becomes the outcome's text: the ledger row, a pause reason, log lines.
    user, password = "acme/production", "echoed-secret-77"
    srv = await smtp_servers(users={user: password}, echo_auth=True)
    m = messenger(settings_for(srv, auth_protocol=mechanism, username=user, password=password))
    with caplog.at_level(logging.DEBUG):
        try:
            outcome = await send(m)
        finally:
            await m.close()
    assert outcome.auth_failed and outcome.code == 535
    assert "535 5.7.8 rejected" in outcome.text and "[redacted]" in outcome.text, outcome.text
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("campaignd"))
    assert "[redacted]" in ours  # the test server's own log (mail.log) is not ours
    plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    for form in (password, b64(user), b64(password), plain, plain.rstrip("=")):
        assert form not in outcome.text, (form, outcome.text)
        assert form not in ours


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode().rstrip("=")


async def test_unoffered_mechanism_says_which_to_use(smtp_servers: Start, trusted_ca: Any) -> None:
    srv = await smtp_servers(tls="starttls", users={"u": "p"}, mechanisms=("PLAIN", "LOGIN"))
    m = messenger(
        settings_for(srv, tls_type="STARTTLS", auth_protocol="cram", username="u", password="p")
    )
    try:
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.auth_failed
    assert "CRAM-MD5" in outcome.text


# -- headers, SMTPUTF8 ----------------------------------------------------------------------


async def test_server_headers_go_under_the_message_headers(smtp_server: SmtpTestServer) -> None:
    m = messenger(
        settings_for(
            smtp_server,
            email_headers={"X-PM-Message-Stream": "broadcast", "Subject": "server subject"},
        )
    )
    try:
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT
    data = smtp_server.messages[0].data
    assert data.startswith(b"X-PM-Message-Stream: broadcast\r\n")
    assert b"server subject" not in data  # the message's own Subject wins
    assert data.count(b"Subject:") == 1


async def test_non_ascii_local_part_needs_smtputf8(smtp_servers: Start) -> None:
    without = await smtp_servers()
    with_utf8 = await smtp_servers(smtputf8=True)
    m1 = messenger(settings_for(without))
    m2 = messenger(settings_for(with_utf8))
    try:
        refused = await send(m1, to="jürgen@example.net")
        sent = await send(m2, to="jürgen@example.net")
    finally:
        await m1.close()
        await m2.close()
    assert refused.kind is OutcomeKind.PERMANENT
    assert "SMTPUTF8" in refused.text
    assert without.messages == []
    assert sent.kind is OutcomeKind.SENT
    assert "SMTPUTF8" in with_utf8.messages[0].mail_options
    assert with_utf8.messages[0].rcpt_tos == ("jürgen@example.net",)


# -- replies and retries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "reply"),
    [
        ("MAIL", "451 4.3.0 try later"),
        ("RCPT", "454 4.7.0 Temporary authentication failure"),
        ("DATA", "451 4.3.0 try later"),
        ("END", "451 4.3.0 queue full"),
        ("MAIL", "421 4.4.2 closing connection"),
    ],
)
async def test_transient_reply_is_retried_and_delivered_once(
    smtp_server: SmtpTestServer, stage: str, reply: str
) -> None:
    m = messenger(settings_for(smtp_server, max_msg_retries=2))
    try:
        # a first message opens the connection, so a 421 lands on a reused one
        assert (await send(m)).kind is OutcomeKind.SENT
        smtp_server.faults.add(stage, reply)
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT, outcome
    assert outcome.attempts == 2
    assert len(smtp_server.messages) == 2


@pytest.mark.parametrize(
    ("stage", "reply"),
    [
        ("RCPT", "454 4.7.0 Throttling failure: Maximum sending rate exceeded"),
        ("END", "451 4.7.28 Our system has detected an unusual rate of mail, slow down"),
    ],
)
async def test_a_too_fast_reply_is_not_retried_at_once(
    smtp_server: SmtpTestServer, stage: str, reply: str
) -> None:
    # Another try 10 ms later only adds to the rate the receiver complains about: the
    # outcome goes back to the engine, which paces the domain ([[domain_limits]]).
    m = messenger(settings_for(smtp_server, max_msg_retries=2))
    try:
        smtp_server.faults.add(stage, reply)
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.TRANSIENT, outcome
    assert outcome.attempts == 1
    assert smtp_server.messages == []


async def test_retries_stop_at_max_msg_retries(smtp_server: SmtpTestServer) -> None:
    smtp_server.faults.add("MAIL", *["451 4.3.0 try later"] * 5)
    m = messenger(settings_for(smtp_server, max_msg_retries=2))
    try:
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert (outcome.code, outcome.enhanced, outcome.attempts) == (451, "4.3.0", 3)
    assert smtp_server.messages == []


async def test_5xx_is_permanent_and_not_retried(smtp_server: SmtpTestServer) -> None:
    smtp_server.faults.add("RCPT", "550 5.1.1 no such user")
    m = messenger(settings_for(smtp_server, max_msg_retries=3))
    try:
        outcome = await send(m)
        after = await send(m)  # the connection stays usable after RSET
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.PERMANENT
    assert (outcome.code, outcome.enhanced, outcome.attempts) == (550, "5.1.1", 1)
    assert "no such user" in outcome.text
    assert after.kind is OutcomeKind.SENT
    assert len(smtp_server.messages) == 1
    assert smtp_server.total_connections == 1


async def test_no_reply_after_the_final_dot_is_unknown_and_never_retried(
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.faults.add("END", "hang")
    m = messenger(settings_for(smtp_server, timeout=0.3, max_msg_retries=3))
    try:
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert outcome.attempts == 1
    assert smtp_server.data_commands == 1  # exactly one delivery attempt reached the server


async def test_drop_after_the_final_dot_is_unknown(smtp_server: SmtpTestServer) -> None:
    smtp_server.faults.add("END", "drop")
    m = messenger(settings_for(smtp_server, max_msg_retries=3))
    try:
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert smtp_server.data_started == 1


async def test_drop_in_the_middle_of_a_small_message_is_unknown(
    smtp_server: SmtpTestServer,
) -> None:
    # The whole message and its final "." left us before the server hung up: it may have it.
    smtp_server.faults.add("DATA_MID", "drop")
    m = messenger(settings_for(smtp_server, max_msg_retries=3))
    try:
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert smtp_server.data_started == 1


async def test_drop_before_the_final_dot_left_is_retried(smtp_server: SmtpTestServer) -> None:
    # A message far larger than the socket buffers: the "." is still ours when the server
    # hangs up, so the retry is safe.
    big = MESSAGE + (b"x" * 900 + b"\r\n") * 8000  # ~7 MB
    smtp_server.faults.add("DATA_MID", "drop")
    m = messenger(settings_for(smtp_server, max_msg_retries=1, timeout=10))
    try:
        outcome = await send(m, message=big)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT, outcome
    assert outcome.attempts == 2
    assert smtp_server.data_started == 2
    assert len(smtp_server.messages) == 1


async def test_drop_at_mail_is_retried_on_a_new_connection(smtp_server: SmtpTestServer) -> None:
    smtp_server.faults.add("MAIL", "drop")
    m = messenger(settings_for(smtp_server, max_msg_retries=1))
    try:
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT
    assert smtp_server.total_connections == 2
    assert len(smtp_server.messages) == 1


async def test_slow_greeting(smtp_server: SmtpTestServer) -> None:
    smtp_server.faults.greeting_delay = 0.5
    impatient = messenger(settings_for(smtp_server, timeout=0.2, max_msg_retries=0))
    patient = messenger(settings_for(smtp_server, timeout=2.0))
    try:
        late = await send(impatient)
        ok = await send(patient)
    finally:
        await impatient.close()
        await patient.close()
    assert late.kind is OutcomeKind.TRANSIENT
    assert late.connection_error
    assert "greeting" in late.text
    assert ok.kind is OutcomeKind.SENT


async def test_greeting_421_sets_the_server_aside(smtp_server: SmtpTestServer) -> None:
    smtp_server.faults.add("GREETING", "421 4.3.2 busy")
    m = messenger(settings_for(smtp_server, max_msg_retries=2), backoff_base=60)
    try:
        first = await send(m)
        second = await send(m)
    finally:
        await m.close()
    assert first.kind is OutcomeKind.TRANSIENT
    assert first.code == 421
    assert second.kind is OutcomeKind.TRANSIENT
    assert second.attempts == 0
    assert smtp_server.total_connections == 1


# -- the connection pool ---------------------------------------------------------------------


async def test_connections_are_reused(smtp_server: SmtpTestServer) -> None:
    m = messenger(settings_for(smtp_server))
    try:
        for _ in range(5):
            assert (await send(m)).kind is OutcomeKind.SENT
    finally:
        await m.close()
    assert smtp_server.total_connections == 1
    assert len(smtp_server.messages) == 5


async def test_a_connection_closed_by_the_server_while_idle_is_replaced(
    smtp_server: SmtpTestServer,
) -> None:
    m = messenger(settings_for(smtp_server, max_msg_retries=0))
    try:
        assert (await send(m)).kind is OutcomeKind.SENT
        for protocol in list(smtp_server._protocols):
            assert protocol.transport is not None
            protocol.transport.abort()
        await asyncio.sleep(0.05)
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT
    assert outcome.attempts == 1
    assert smtp_server.total_connections == 2


async def test_idle_connections_close_after_idle_timeout(smtp_server: SmtpTestServer) -> None:
    m = messenger(settings_for(smtp_server, idle_timeout=0.1))
    try:
        assert (await send(m)).kind is OutcomeKind.SENT
        assert smtp_server.connections == 1
        for _ in range(100):
            if smtp_server.connections == 0:
                break
            await asyncio.sleep(0.02)
        assert smtp_server.connections == 0
    finally:
        await m.close()


async def test_max_conns_is_never_exceeded(smtp_server: SmtpTestServer) -> None:
    m = messenger(settings_for(smtp_server, max_conns=3, wait_timeout=10))
    try:
        outcomes = await asyncio.gather(*(send(m) for _ in range(60)))
    finally:
        await m.close()
    assert all(o.kind is OutcomeKind.SENT for o in outcomes)
    assert len(smtp_server.messages) == 60
    assert smtp_server.peak_connections == 3


async def test_wait_timeout_gives_no_free_connection(smtp_server: SmtpTestServer) -> None:
    smtp_server.faults.add("END", "hang")
    m = messenger(settings_for(smtp_server, max_conns=1, wait_timeout=0.05, timeout=0.5))
    try:
        stuck = asyncio.ensure_future(send(m))
        await asyncio.sleep(0.1)
        waiting = await send(m)
        assert (await stuck).kind is OutcomeKind.UNKNOWN
    finally:
        await m.close()
    assert waiting.kind is OutcomeKind.TRANSIENT
    assert "no free connection" in waiting.text
    assert not waiting.connection_error


# -- pools: rotation, fail-over --------------------------------------------------------------


async def test_round_robin_alternates(smtp_servers: Start) -> None:
    a, b = await smtp_servers(), await smtp_servers()
    m = messenger(settings_for(a, name="a", in_pool=True), settings_for(b, name="b", in_pool=True))
    try:
        used = [(await send(m)).server for _ in range(6)]
    finally:
        await m.close()
    assert used in (["a", "b"] * 3, ["b", "a"] * 3)
    assert len(a.messages) == len(b.messages) == 3


async def test_failover_routes_around_a_dead_server(smtp_servers: Start) -> None:
    dead = await smtp_servers()
    dead_port = dead.port
    await dead.stop()
    alive = await smtp_servers()
    down = SmtpSettings(
        host="127.0.0.1",
        port=dead_port,
        tls_type="none",
        auth_protocol="none",
        name="dead",
        timeout=1,
        msg_retry_delay=0,
    )
    m = messenger(down, settings_for(alive, name="alive"), backoff_base=60)
    try:
        outcomes = [await send(m) for _ in range(4)]
    finally:
        await m.close()
    assert [o.kind for o in outcomes] == [OutcomeKind.SENT] * 4
    assert {o.server for o in outcomes} == {"alive"}
    assert sum(o.attempts for o in outcomes) in (4, 5)  # the dead one was tried at most once
    assert len(alive.messages) == 4


async def test_all_servers_down_fails_fast(smtp_servers: Start) -> None:
    ports = []
    for _ in range(2):
        srv = await smtp_servers()
        ports.append(srv.port)
        await srv.stop()
    servers = [
        SmtpSettings(
            host="127.0.0.1",
            port=p,
            tls_type="none",
            auth_protocol="none",
            timeout=1,
            msg_retry_delay=0,
        )
        for p in ports
    ]
    m = messenger(*servers, backoff_base=60)
    loop = asyncio.get_running_loop()
    try:
        first = await send(m)
        started = loop.time()
        later = [await send(m) for _ in range(20)]
        elapsed = loop.time() - started
    finally:
        await m.close()
    assert first.kind is OutcomeKind.TRANSIENT
    assert first.connection_error
    assert first.attempts == 2  # each server once, then nothing left
    assert all(o.kind is OutcomeKind.TRANSIENT for o in later)
    assert all(o.connection_error for o in later)
    assert all(o.attempts == 0 for o in later)
    assert elapsed < 0.5


async def test_a_server_set_aside_comes_back(smtp_servers: Start) -> None:
    srv = await smtp_servers()
    port = srv.port
    await srv.stop()
    m = messenger(
        SmtpSettings(
            host="127.0.0.1",
            port=port,
            tls_type="none",
            auth_protocol="none",
            timeout=1,
            msg_retry_delay=0,
        ),
        backoff_base=0.05,
    )
    try:
        assert (await send(m)).connection_error
        back = await smtp_servers(port=port)
        await asyncio.sleep(0.1)
        outcome = await send(m)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT
    assert len(back.messages) == 1


async def test_named_server_in_pool_shares_its_connections(smtp_server: SmtpTestServer) -> None:
    settings = Settings(smtp=(settings_for(smtp_server, name="ark", in_pool=True, max_conns=1),))
    messengers = build_messengers(settings)
    try:
        assert set(messengers) == {"email", "ark"}
        assert (await send(messengers["email"])).server == "ark"  # type: ignore[arg-type]
        assert (await send(messengers["ark"])).server == "ark"  # type: ignore[arg-type]
    finally:
        await close_messengers(messengers)
    assert smtp_server.total_connections == 1


async def test_a_down_server_is_logged_once_until_it_recovers(
    smtp_servers: Start, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await smtp_servers()
    port = srv.port
    await srv.stop()
    m = messenger(
        SmtpSettings(
            host="127.0.0.1",
            port=port,
            tls_type="none",
            auth_protocol="none",
            timeout=1,
            msg_retry_delay=0,
        ),
        backoff_base=0.01,
    )
    caplog.set_level(logging.DEBUG, logger="campaignd.messengers")
    try:
        for _ in range(6):
            assert (await send(m)).connection_error
            await asyncio.sleep(0.03)
        await smtp_servers(port=port)
        await asyncio.sleep(0.05)
        assert (await send(m)).kind is OutcomeKind.SENT
        assert (await send(m)).kind is OutcomeKind.SENT
    finally:
        await m.close()

    def records(action: str, level: int) -> int:
        return sum(
            1 for r in caplog.records if getattr(r, "action", None) == action and r.levelno == level
        )

    assert records("smtp.server_down", logging.WARNING) == 1
    assert records("smtp.server_down", logging.DEBUG) >= 2  # later failures stay quiet
    assert records("smtp.all_down", logging.WARNING) == 1
    assert records("smtp.server_up", logging.INFO) == 1
    assert records("smtp.all_up", logging.INFO) == 1


async def test_max_rate_paces_one_server(smtp_server: SmtpTestServer) -> None:
    m = messenger(settings_for(smtp_server, max_rate=20))
    loop = asyncio.get_running_loop()
    try:
        await send(m)
        started = loop.time()
        for _ in range(5):
            await send(m)
        elapsed = loop.time() - started
    finally:
        await m.close()
    assert elapsed >= 0.2  # 5 more messages at 20/s: at least 4-5 intervals of 50 ms
    assert len(smtp_server.messages) == 6
