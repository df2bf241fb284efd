"""PIPELINING (RFC 2920) against servers that offer it: a raw scripted one and aiosmtpd with faults.

The raw server answers MAIL only once it has DATA, so a client that waited for each reply would
time out: every success here is a pipelined transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from campaignd.config import SmtpSettings
from campaignd.domain import OutcomeKind, SendOutcome
from campaignd.messengers.pool import SmtpMessenger
from campaignd.messengers.server import SmtpServer
from tests.support import CaptureHandler, SmtpTestServer

pytest_plugins = ["tests.support.fixtures"]

MESSAGE = (
    b"From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nhello\r\n.leading dot\r\n"
)
WIRE_BODY = b"hello\r\n..leading dot\r\n"
EHLO = b"250-raw\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n"


class RawServer:
    """Offers PIPELINING and replies to MAIL, RCPT... and DATA only after DATA has come in.

    `mode` shapes how those replies go out: "one" write, "split" into small writes that reach
    the client one by one, or "multiline" (a multi-line MAIL reply, split as well).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.batches: list[list[bytes]] = []
        self.messages: list[bytes] = []
        self.connections = 0
        self.quits = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    def _replies(self, batch: list[bytes]) -> list[bytes]:
        mail = b"250 2.1.0 sender ok\r\n"
        if self.mode == "multiline":
            mail = b"250-2.1.0 sender\r\n250-still\r\n250 2.1.0 ok\r\n"
        rcpts = [b"250 2.1.5 recipient ok\r\n"] * (len(batch) - 2)
        return [mail, *rcpts, b"354 go ahead\r\n"]

    async def _send(self, writer: asyncio.StreamWriter, replies: list[bytes]) -> None:
        if self.mode == "one":
            writer.write(b"".join(replies))
            await writer.drain()
            return
        data = b"".join(replies)
        for i in range(0, len(data), 7):  # cut through codes, lines and line ends
            writer.write(data[i : i + 7])
            await writer.drain()
            await asyncio.sleep(0.002)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(b"220 raw ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(
                        b"250-raw\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n"
                    )
                elif verb == b"MAIL":
                    batch = [line]
                    while not batch[-1].upper().startswith(b"DATA"):
                        batch.append(await reader.readuntil(b"\n"))
                    self.batches.append(batch)
                    await self._send(writer, self._replies(batch))
                    body = bytearray()
                    while (chunk := await reader.readuntil(b"\n")) != b".\r\n":
                        body += chunk
                    self.messages.append(bytes(body))
                    writer.write(b"250 2.0.0 queued as %d\r\n" % len(self.messages))
                elif verb == b"RSET":
                    writer.write(b"250 OK\r\n")
                elif verb == b"QUIT":
                    self.quits += 1
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"502 5.5.2 what\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


class PipeliningHandler(CaptureHandler):
    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        responses = await super().handle_EHLO(server, session, envelope, hostname, responses)
        return [responses[0], "250-PIPELINING", *responses[1:]]


class PipeliningServer(SmtpTestServer):
    """tests/support's aiosmtpd server (faults and all), offering PIPELINING."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handler = PipeliningHandler(self.faults)


def settings_for(port: int, **kw: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "tls_type": "none",
        "auth_protocol": "none",
        "timeout": 2.0,
        "msg_retry_delay": 0,
        "hello_hostname": "client.test",
    }
    values.update(kw)
    return SmtpSettings(**values)


async def sending(port: int, body: Callable[[SmtpMessenger], Awaitable[Any]], **kw: Any) -> Any:
    m = SmtpMessenger("email", [SmtpServer(settings_for(port, **kw))])
    try:
        return await body(m)
    finally:
        await m.close()


async def send(m: SmtpMessenger, message: bytes = MESSAGE, *to: str) -> SendOutcome:
    return await m.send("a@example.org", list(to or ["b@example.net"]), message)


async def _two(m: SmtpMessenger) -> tuple[SendOutcome, SendOutcome]:
    return await send(m), await send(m)


@pytest.fixture
async def server() -> AsyncIterator[PipeliningServer]:
    async with PipeliningServer() as srv:
        yield srv


# -- the wire ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["one", "split", "multiline"])
async def test_one_write_for_mail_rcpt_data_and_replies_however_they_come(mode: str) -> None:
    async with RawServer(mode) as raw:

        async def three(m: SmtpMessenger) -> list[SendOutcome]:
            first = await send(m)
            second = await send(m, MESSAGE, "c@example.net", "d@example.net")
            return [first, second, await send(m)]

        outcomes = await sending(raw.port, three)
    assert [o.kind for o in outcomes] == [OutcomeKind.SENT] * 3, outcomes
    assert [o.text for o in outcomes] == [f"2.0.0 queued as {i}" for i in (1, 2, 3)]
    assert raw.batches[1] == [
        b"MAIL FROM:<a@example.org> SIZE=%d\r\n" % (len(MESSAGE) + 1),
        b"RCPT TO:<c@example.net>\r\n",
        b"RCPT TO:<d@example.net>\r\n",
        b"DATA\r\n",
    ]
    assert all(m.endswith(WIRE_BODY) for m in raw.messages)
    assert raw.connections == 1  # one connection for all three
    assert raw.quits == 1  # QUIT went out through aiosmtplib again at close


def test_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[list[SendOutcome], RawServer]:
        async with RawServer("split") as raw:

            async def two(m: SmtpMessenger) -> list[SendOutcome]:
                return [await send(m), await send(m)]

            return await sending(raw.port, two), raw

    outcomes, raw = uvloop.run(scenario())
    assert [o.kind for o in outcomes] == [OutcomeKind.SENT] * 2, outcomes
    assert (raw.connections, raw.quits, len(raw.messages)) == (1, 1, 2)


async def test_starttls_and_auth_then_pipelining(trusted_ca: Any) -> None:
    srv = PipeliningServer(
        tls="starttls", tls_context=trusted_ca.server_context(), users={"u": "p"}
    )
    async with srv:
        outcomes = await sending(
            srv.port,
            lambda m: asyncio.gather(*(send(m) for _ in range(4))),
            tls_type="STARTTLS",
            auth_protocol="login",
            username="u",
            password="p",
            max_conns=2,
        )
    assert [o.kind for o in outcomes] == [OutcomeKind.SENT] * 4, outcomes
    assert all(c.tls and c.login == "u" for c in srv.messages)
    assert srv.total_connections <= 2


# -- refusals and faults in a pipelined batch ----------------------------------------------


async def test_550_at_rcpt_then_the_connection_is_reused(server: PipeliningServer) -> None:
    server.faults.add("RCPT", "550 5.1.1 no such user")
    refused, after = await sending(server.port, _two)
    assert refused.kind is OutcomeKind.PERMANENT
    assert (refused.code, refused.enhanced, refused.attempts) == (550, "5.1.1", 1)
    assert after.kind is OutcomeKind.SENT
    assert len(server.messages) == 1
    assert server.total_connections == 1  # RSET after the refusal kept the connection


async def test_a_refused_mail_from_is_permanent_and_the_connection_reused(
    server: PipeliningServer,
) -> None:
    server.faults.add("MAIL", "553 5.1.8 sender refused")
    refused, after = await sending(server.port, _two)
    assert (refused.kind, refused.code) == (OutcomeKind.PERMANENT, 553)
    assert after.kind is OutcomeKind.SENT
    assert server.total_connections == 1


async def test_one_recipient_of_two_refused_is_sent_with_a_note(server: PipeliningServer) -> None:
    server.faults.add("RCPT", "550 5.1.1 no such user")
    outcome = await sending(
        server.port, lambda m: send(m, MESSAGE, "x@example.net", "y@example.net")
    )
    assert outcome.kind is OutcomeKind.SENT
    assert "refused: 550 5.1.1 no such user" in outcome.text
    assert server.messages[0].rcpt_tos == ("y@example.net",)


@pytest.mark.parametrize(
    ("stage", "reply"),
    [
        ("MAIL", "421 4.4.2 closing connection"),
        ("RCPT", "421 4.4.2 closing connection"),
        ("DATA", "421 4.4.2 closing connection"),
        ("RCPT", "451 4.7.1 greylisted"),
        ("DATA", "451 4.3.0 try later"),
        ("END", "451 4.3.0 queue full"),
        ("RCPT", "drop"),
        ("DATA", "drop"),
        ("RCPT", "hang"),
    ],
)
async def test_a_fault_before_the_final_dot_is_retried_and_delivered_once(
    server: PipeliningServer, stage: str, reply: str
) -> None:
    async def warm_then_fault(m: SmtpMessenger) -> SendOutcome:
        assert (await send(m)).kind is OutcomeKind.SENT  # the fault lands on a reused connection
        server.faults.add(stage, reply)
        return await send(m)

    outcome = await sending(server.port, warm_then_fault, max_msg_retries=2, timeout=0.5)
    assert outcome.kind is OutcomeKind.SENT, outcome
    assert outcome.attempts == 2
    assert len(server.messages) == 2
    if reply.startswith("421") or reply in ("drop", "hang"):
        assert server.total_connections == 2  # the broken connection was not reused


async def test_a_drop_while_a_large_message_is_sent_is_retried(server: PipeliningServer) -> None:
    big = MESSAGE + (b"x" * 900 + b"\r\n") * 8000  # ~7 MB: the "." is still ours at the drop
    server.faults.add("DATA_MID", "drop")
    outcome = await sending(server.port, lambda m: send(m, big), max_msg_retries=1, timeout=10)
    assert outcome.kind is OutcomeKind.SENT, outcome
    assert (outcome.attempts, server.data_started, len(server.messages)) == (2, 2, 1)


@pytest.mark.parametrize("action", ["hang", "drop"])
async def test_no_reply_after_the_final_dot_is_unknown_and_never_retried(
    server: PipeliningServer, action: str
) -> None:
    server.faults.add("END", action)
    outcome = await sending(server.port, send, timeout=0.3, max_msg_retries=3)
    assert outcome.kind is OutcomeKind.UNKNOWN, outcome
    assert outcome.attempts == 1
    assert server.data_commands == 1


async def test_421_after_the_final_dot_is_transient_and_closes(server: PipeliningServer) -> None:
    server.faults.add("END", "421 4.3.2 shutting down")
    outcome = await sending(server.port, send, max_msg_retries=0)
    assert (outcome.kind, outcome.code) == (OutcomeKind.TRANSIENT, 421)
    for _ in range(50):
        if not server.connections:
            break
        await asyncio.sleep(0.01)
    assert server.connections == 0


async def test_a_connection_closed_while_idle_is_replaced(server: PipeliningServer) -> None:
    async def around_a_close(m: SmtpMessenger) -> tuple[SendOutcome, SendOutcome]:
        first = await send(m)
        for protocol in list(server._protocols):
            assert protocol.transport is not None
            protocol.transport.close()
        await asyncio.sleep(0.05)
        return first, await send(m)

    first, second = await sending(server.port, around_a_close, max_msg_retries=0)
    assert first.kind is OutcomeKind.SENT
    assert second.kind is OutcomeKind.SENT, second
    assert server.total_connections == 2
