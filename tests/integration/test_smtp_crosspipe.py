"""Cross-message pipelining: a message's "." and a waiting send's MAIL, RCPT, DATA in one write.

A send waiting for a connection slot is adopted by a connection about to write its message:
its envelope goes out after that message's ".", and it gets the connection and the slot once
the reply to the "." is in. These tests count the client's writes on its transports and
script the server's reply to each "." to show that every outcome stays what it was: the
first message is decided by its own reply alone, the adopted one is retried on another
connection when the first connection fails before its 354, and nothing leaks on cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from campaignd.domain import OutcomeKind, SendOutcome
from campaignd.messengers.pool import SmtpMessenger
from campaignd.messengers.server import SmtpServer
from tests.integration.test_smtp_pipelining import PipeliningServer, settings_for

EHLO = b"250-scripted\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n"


def message(i: int, body: str = "hello") -> bytes:
    return f"From: a@example.org\r\nTo: b@example.net\r\nSubject: {i}\r\n\r\n{body}\r\n".encode()


class ScriptedServer:
    """Offers PIPELINING, answers each command as it reads it; the reply to the Nth "." (N
    counted over all connections, from 1) follows `end[N]`: a reply line (421 closes),
    "drop", "hang", or "delay" (250 after `delay` seconds); the Nth 354 waits `slow_354[N]`;
    the Nth MAIL gets `mail[N]`: "drop" or "hang".
    """

    def __init__(self) -> None:
        self.end: dict[int, str] = {}
        self.slow_354: dict[int, float] = {}
        self.mail: dict[int, str] = {}
        self.delay = 0.3
        self.mail_lines: list[bytes] = []
        self.messages: list[bytes] = []  # accepted bodies
        self.transactions = 0  # DATA commands answered
        self.connections = 0
        self.open = 0
        self.peak = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()

    async def closed(self) -> None:
        """Wait until the server sees no connection open."""
        for _ in range(200):
            if not self.open:
                return
            await asyncio.sleep(0.01)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        self._writers.add(writer)
        writer.write(b"220 scripted ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(EHLO)
                elif verb == b"MAIL":
                    self.mail_lines.append(line)
                    action = self.mail.get(len(self.mail_lines), "")
                    if action == "drop":
                        writer.transport.abort()
                        return
                    if action == "hang":
                        await reader.read()
                        return
                    writer.write(b"250 2.1.0 ok\r\n")
                elif verb == b"RCPT":
                    writer.write(b"250 2.1.5 ok\r\n")
                elif verb == b"DATA":
                    self.transactions += 1
                    n = self.transactions
                    if n in self.slow_354:
                        await asyncio.sleep(self.slow_354[n])
                    writer.write(b"354 go ahead\r\n")
                    body = bytearray()
                    while (chunk := await reader.readuntil(b"\n")) != b".\r\n":
                        body += chunk
                    action = self.end.get(n, "250 2.0.0 queued")
                    if action == "drop":
                        writer.transport.abort()
                        return
                    if action == "hang":
                        await reader.read()  # until the client gives up
                        return
                    if action == "delay":
                        await asyncio.sleep(self.delay)
                        action = "250 2.0.0 queued"
                    writer.write(action.encode() + b"\r\n")
                    if action.startswith("421"):
                        await writer.drain()
                        return
                    if action.startswith("2"):
                        self.messages.append(bytes(body))
                elif verb == b"RSET":
                    writer.write(b"250 ok\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"502 5.5.2 what\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            self._writers.discard(writer)
            writer.close()


class Writes:
    """Every write the client makes on a plain TCP connection to `port`."""

    def __init__(self) -> None:
        self.port = 0
        self.data: list[bytes] = []

    @property
    def combined(self) -> int:
        """Writes that carried a "." and the next send's MAIL together."""
        return sum(1 for d in self.data if b".\r\nMAIL FROM:" in d)

    async def until_combined(self) -> None:
        for _ in range(500):
            if self.combined:
                return
            await asyncio.sleep(0.002)
        raise AssertionError("no combined write")


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Writes:
    from asyncio import selector_events

    seen = Writes()
    transport_class: Any = vars(selector_events)["_SelectorSocketTransport"]
    original = transport_class.write

    def write(self: Any, data: bytes) -> None:
        peer = self.get_extra_info("peername")
        if peer is not None and peer[1] == seen.port:  # the client's side only
            seen.data.append(bytes(data))
        original(self, data)

    monkeypatch.setattr(transport_class, "write", write)
    return seen


@pytest.fixture
async def scripted(writes: Writes) -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as srv:
        writes.port = srv.port
        yield srv


def messenger(port: int, **kw: Any) -> SmtpMessenger:
    values: dict[str, Any] = {"max_conns": 1, "max_msg_retries": 0, "timeout": 2.0}
    values.update(kw)
    return SmtpMessenger("email", [SmtpServer(settings_for(port, **values))])


async def send(m: SmtpMessenger, i: int, body: str = "hello", *to: str) -> SendOutcome:
    return await m.send("a@example.org", list(to or [f"u{i}@example.net"]), message(i, body))


def subjects(bodies: list[bytes]) -> list[int]:
    return [int(b.split(b"Subject: ")[1].split(b"\r\n")[0]) for b in bodies]


async def two(m: SmtpMessenger) -> tuple[asyncio.Task[SendOutcome], asyncio.Task[SendOutcome]]:
    """Send 1 takes the only connection; send 2 waits for it and is adopted."""
    first = asyncio.ensure_future(send(m, 1))
    second = asyncio.ensure_future(send(m, 2))
    return first, second


async def first_and_adopted(m: SmtpMessenger) -> tuple[SendOutcome, SendOutcome]:
    """`two` to the end: send 1's outcome and that of send 2 (adopted); then close `m`."""
    try:
        first, second = await two(m)
        return await first, await second
    finally:
        await m.close()


# -- steady state --------------------------------------------------------------------------


@pytest.mark.parametrize("conns", [1, 3])
async def test_one_write_per_message_while_sends_wait(
    scripted: ScriptedServer, writes: Writes, conns: int
) -> None:
    m = messenger(scripted.port, max_conns=conns)
    n = 30
    try:
        outcomes = await asyncio.gather(*(send(m, i) for i in range(n)))
        sending = len(writes.data)
    finally:
        await m.close()
    assert [o.kind for o in outcomes] == [OutcomeKind.SENT] * n, outcomes
    assert sorted(subjects(scripted.messages)) == list(range(n))
    assert scripted.connections == conns
    # Per connection: EHLO, the first MAIL/RCPT/DATA; then one write per message (its ".",
    # and the next send's envelope). Without adoption it would be 2 per message.
    assert sending <= n + 2 * conns, writes.data
    assert writes.combined >= n - conns


async def test_steady_state_against_aiosmtpd(writes: Writes) -> None:
    async with PipeliningServer() as server:
        writes.port = server.port
        m = messenger(server.port, max_conns=2)
        try:
            outcomes = await asyncio.gather(*(send(m, i) for i in range(20)))
            sending = len(writes.data)
        finally:
            await m.close()
    assert [o.kind for o in outcomes] == [OutcomeKind.SENT] * 20, outcomes
    assert sorted(subjects([c.data for c in server.messages])) == list(range(20))
    assert sending <= 20 + 4
    assert server.total_connections == 2


async def test_the_adopted_envelope_has_the_options_deliver_would_give(
    scripted: ScriptedServer, writes: Writes
) -> None:
    m = messenger(scripted.port)
    try:
        first = asyncio.ensure_future(send(m, 1))
        second = asyncio.ensure_future(send(m, 2, "grüße"))
        outcomes = [await first, await second]
    finally:
        await m.close()
    assert [o.kind for o in outcomes] == [OutcomeKind.SENT] * 2
    assert writes.combined == 1
    size = len(message(2, "grüße"))
    assert scripted.mail_lines[1] == b"MAIL FROM:<a@example.org> SIZE=%d BODY=8BITMIME\r\n" % size


async def test_a_send_deliver_would_refuse_is_not_adopted(
    scripted: ScriptedServer, writes: Writes
) -> None:
    m = messenger(scripted.port)  # the server does not offer SMTPUTF8
    try:
        first = asyncio.ensure_future(send(m, 1))
        second = asyncio.ensure_future(send(m, 2, "hi", "jörg@example.net"))
        third = asyncio.ensure_future(send(m, 3))
        outcomes = [await first, await second, await third]
    finally:
        await m.close()
    assert [o.kind for o in outcomes] == [OutcomeKind.SENT, OutcomeKind.PERMANENT, OutcomeKind.SENT]
    assert "SMTPUTF8" in outcomes[1].text
    assert subjects(scripted.messages) == [1, 3]
    assert not any(b"j\xc3\xb6rg" in d for d in writes.data)


# -- the first message's reply decides its outcome; the adopted send is retried -------------


async def test_connection_lost_after_the_combined_write(
    scripted: ScriptedServer, writes: Writes
) -> None:
    scripted.end[1] = "drop"
    m = messenger(scripted.port)
    one, other = await first_and_adopted(m)
    assert writes.combined == 1
    assert one.kind is OutcomeKind.UNKNOWN, one
    assert other.kind is OutcomeKind.SENT, other
    assert other.attempts == 1  # retried inside the attempt, like a stale connection
    assert subjects(scripted.messages) == [2]  # delivered exactly once
    assert scripted.connections == 2


@pytest.mark.parametrize("reply", ["421 4.3.2 shutting down", "hang"])
async def test_421_or_no_reply_to_the_first_retries_the_adopted_send(
    scripted: ScriptedServer, writes: Writes, reply: str
) -> None:
    scripted.end[1] = reply
    m = messenger(scripted.port, timeout=0.3)
    one, other = await first_and_adopted(m)
    assert writes.combined == 1
    if reply == "hang":
        assert one.kind is OutcomeKind.UNKNOWN, one
    else:
        assert (one.kind, one.code, one.attempts) == (OutcomeKind.TRANSIENT, 421, 1)
    assert other.kind is OutcomeKind.SENT, other
    assert subjects(scripted.messages) == [2]
    assert scripted.connections == 2
    assert m.smtp_servers[0].open_connections == 0


@pytest.mark.parametrize("fault", ["drop", "hang"])
async def test_connection_fails_before_the_adopted_send_got_its_354(
    scripted: ScriptedServer, writes: Writes, fault: str
) -> None:
    scripted.mail[2] = fault  # after the reply to the first ".", at the adopted MAIL
    m = messenger(scripted.port, timeout=0.3)
    one, other = await first_and_adopted(m)
    assert writes.combined == 1
    assert one.kind is OutcomeKind.SENT, one
    assert (other.kind, other.attempts) == (OutcomeKind.SENT, 1), other
    assert subjects(scripted.messages) == [1, 2]
    assert scripted.connections == 2
    assert m.smtp_servers[0].open_connections == 0


async def test_a_refused_first_message_leaves_the_adopted_send_on_the_connection(
    scripted: ScriptedServer, writes: Writes
) -> None:
    scripted.end[1] = "554 5.7.1 rejected"
    m = messenger(scripted.port)
    try:
        first, second = await two(m)
        one, other = await first, await second
        third = await send(m, 3)
    finally:
        await m.close()
    assert writes.combined == 1
    assert (one.kind, one.code) == (OutcomeKind.PERMANENT, 554)
    assert other.kind is OutcomeKind.SENT and third.kind is OutcomeKind.SENT
    assert subjects(scripted.messages) == [2, 3]
    assert scripted.connections == 1


async def test_against_aiosmtpd_faults_after_the_first_dot(writes: Writes) -> None:
    for fault, first_kind, connections in [
        ("drop", OutcomeKind.UNKNOWN, 2),
        ("554 5.7.1 rejected", OutcomeKind.PERMANENT, 1),
        ("421 4.3.2 closing", OutcomeKind.TRANSIENT, 2),
    ]:
        async with PipeliningServer() as server:
            writes.port = server.port
            writes.data.clear()
            server.faults.add("END", fault)
            m = messenger(server.port)
            try:
                first, second = await two(m)
                one, other = await first, await second
            finally:
                await m.close()
        assert writes.combined == 1, fault
        assert one.kind is first_kind, (fault, one)
        assert other.kind is OutcomeKind.SENT, (fault, other)
        assert subjects([c.data for c in server.messages]) == [2], fault
        assert server.total_connections == connections, fault


# -- cancellation ----------------------------------------------------------------------------


async def test_an_adopted_send_cancelled_before_its_turn(
    scripted: ScriptedServer, writes: Writes
) -> None:
    scripted.end[1] = "delay"  # the reply to the first "." comes late
    m = messenger(scripted.port, wait_timeout=2.0)
    server = m.smtp_servers[0]
    try:
        first, second = await two(m)
        await writes.until_combined()
        second.cancel()
        one = await first
        with pytest.raises(asyncio.CancelledError):
            await second
        assert one.kind is OutcomeKind.SENT, one
        await scripted.closed()  # its DATA may have been open: the connection was closed
        assert scripted.open == 0
        assert server.open_connections == 0
        third = await send(m, 3)  # the slot came back
    finally:
        await m.close()
    assert third.kind is OutcomeKind.SENT, third
    assert subjects(scripted.messages) == [1, 3]
    assert server.peak_connections == 1


async def test_an_adopted_send_cancelled_while_reading_its_replies(
    scripted: ScriptedServer, writes: Writes
) -> None:
    scripted.slow_354[2] = 0.5
    m = messenger(scripted.port, wait_timeout=2.0)
    server = m.smtp_servers[0]
    try:
        first, second = await two(m)
        one = await first
        assert writes.combined == 1
        await asyncio.sleep(0.05)  # the second send now waits for its 354
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        await scripted.closed()
        assert server.open_connections == 0
        third = await send(m, 3)
    finally:
        await m.close()
    assert one.kind is OutcomeKind.SENT and third.kind is OutcomeKind.SENT
    assert subjects(scripted.messages) == [1, 3]
    assert server.peak_connections == 1


async def test_a_send_cancelled_after_adopting_one(
    scripted: ScriptedServer, writes: Writes
) -> None:
    scripted.end[1] = "delay"
    m = messenger(scripted.port, wait_timeout=2.0)
    server = m.smtp_servers[0]
    try:
        first, second = await two(m)
        await writes.until_combined()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        other = await second
        third = await send(m, 3)
        assert server.open_connections == 1  # the second connection, idle
    finally:
        await m.close()
    assert other.kind is OutcomeKind.SENT, other
    assert third.kind is OutcomeKind.SENT, third
    assert 2 in subjects(scripted.messages)
    assert subjects(scripted.messages).count(2) == 1
    assert server.peak_connections == 1
