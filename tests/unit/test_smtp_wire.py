"""wire.Wire: SMTP replies cut out of the incoming bytes in order, whatever the reads look like."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import pytest

from campaignd.errors import BadReply, ConnectionLost, ReplyTimeout
from campaignd.messengers.wire import MAX_LINE, Reply, Wire
from tests.support.certs import TestCA

STREAM = (
    b"250-smtp.test Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
    b"250 2.1.0 OK\r\n"
    b"550 5.1.1 no such user\r\n"
    b"503 5.5.1 Error: need RCPT command\n"  # LF only
    b"354\r\n"  # no text
)
EXPECTED = [
    Reply(250, "smtp.test Hello\nPIPELINING\nSIZE 1000"),
    Reply(250, "2.1.0 OK"),
    Reply(550, "5.1.1 no such user"),
    Reply(503, "5.5.1 Error: need RCPT command"),
    Reply(354, ""),
]


class Inner(asyncio.Protocol):
    """Stands in for aiosmtplib's protocol: records what the Wire passes on."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("lost", exc))

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")


class Socket:
    def __init__(self, sndbuf: int) -> None:
        self.sndbuf = sndbuf

    def getsockopt(self, level: int, option: int) -> int:
        assert (level, option) == (socket.SOL_SOCKET, socket.SO_SNDBUF)
        return self.sndbuf


class Transport:
    """A plain TCP transport whose socket reports SO_SNDBUF `sndbuf` (None: no socket)."""

    def __init__(
        self, protocol: asyncio.BaseProtocol, sndbuf: int | None = 8192, tls: bool = False
    ) -> None:
        self.protocol = protocol
        self.written: list[bytes] = []
        self.closing = False
        self.buffered = 0
        self.extra: dict[str, Any] = {"socket": Socket(sndbuf) if sndbuf is not None else None}
        if tls:
            self.extra["sslcontext"] = ssl.create_default_context()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.protocol

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return self.buffered


def attach(sndbuf: int | None = 8192, tls: bool = False) -> tuple[Wire, Transport, Inner]:
    inner = Inner()
    transport = Transport(inner, sndbuf, tls)
    wire = Wire.on(transport, inner)  # type: ignore[arg-type]
    return wire, transport, inner


async def read_all(wire: Wire, n: int) -> list[Reply]:
    return [await wire.reply(0.5) for _ in range(n)]


async def test_several_replies_in_one_read_come_out_in_order() -> None:
    wire, _, _ = attach()
    wire.data_received(STREAM)
    assert await read_all(wire, len(EXPECTED)) == EXPECTED
    assert wire.idle


async def test_every_split_of_the_stream_gives_the_same_replies() -> None:
    for cut in range(1, len(STREAM)):
        wire, _, _ = attach()
        wire.data_received(STREAM[:cut])
        wire.data_received(STREAM[cut:])
        assert await read_all(wire, len(EXPECTED)) == EXPECTED, cut
    wire, _, _ = attach()
    for i in range(len(STREAM)):  # one byte per read
        wire.data_received(STREAM[i : i + 1])
    assert await read_all(wire, len(EXPECTED)) == EXPECTED


async def test_a_reply_arriving_later_wakes_the_reader() -> None:
    wire, _, _ = attach()
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, wire.data_received, b"250 2.0.0 ")
    loop.call_later(0.02, wire.data_received, b"queued\r\n")
    assert await wire.reply(1.0) == Reply(250, "2.0.0 queued")


async def test_no_reply_in_time_is_a_timeout() -> None:
    wire, _, _ = attach()
    wire.data_received(b"250 partial with no line end")
    with pytest.raises(ReplyTimeout):
        await wire.reply(0.02)


async def test_each_wait_has_its_own_limit_however_short() -> None:
    wire, _, _ = attach()
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, wire.data_received, b"250 OK\r\n")
    assert await wire.reply(5.0) == Reply(250, "OK")
    started = loop.time()
    with pytest.raises(ReplyTimeout, match=r"0\.05s"):
        await wire.reply(0.05)  # not the 5 s of the wait before
    assert 0.04 <= loop.time() - started < 1.0


async def test_several_replies_in_one_wait_each_within_the_limit() -> None:
    wire, _, _ = attach()
    loop = asyncio.get_running_loop()
    for i, at in enumerate((0.03, 0.06, 0.09)):  # 0.09 s in all, each 0.03 s after the last
        loop.call_later(at, wire.data_received, b"250 %d\r\n" % i)
    got: list[Reply] = []
    await wire.replies(3, 0.06, got)
    assert got == [Reply(250, "0"), Reply(250, "1"), Reply(250, "2")]


async def test_several_replies_take_only_what_was_asked() -> None:
    wire, _, _ = attach()
    wire.data_received(STREAM)
    got: list[Reply] = []
    await wire.replies(2, 0.5, got)
    assert got == EXPECTED[:2]
    assert await read_all(wire, 3) == EXPECTED[2:]


@pytest.mark.parametrize("ending", ["timeout", "loss", "bad"])
async def test_replies_that_came_before_a_failure_are_kept(ending: str) -> None:
    wire, _, _ = attach()
    wire.data_received(b"250 2.1.0 OK\r\n")
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, wire.data_received, b"550 5.1.1 no\r\n")
    if ending == "loss":
        loop.call_later(0.02, wire.connection_lost, None)
    elif ending == "bad":
        loop.call_later(0.02, wire.data_received, b"what\r\n")
    got: list[Reply] = []
    expected = {"timeout": ReplyTimeout, "loss": ConnectionLost, "bad": BadReply}[ending]
    with pytest.raises(expected):
        await wire.replies(3, 0.1, got)
    assert got == [Reply(250, "2.1.0 OK"), Reply(550, "5.1.1 no")]


@pytest.mark.parametrize(
    "data",
    [
        b"2" * (MAX_LINE + 1),  # a line that never ends
        b"250 " + b"x" * MAX_LINE + b"\r\n",  # one line too long
        b"hello there\r\n",  # no code
        b"25 short\r\n",
        b"25\r\n",  # a code too short, and nothing after it
        b"\n",
        b"250x no separator\r\n",
    ],
)
async def test_what_is_not_an_smtp_reply_breaks_the_connection(data: bytes) -> None:
    wire, transport, _ = attach()
    wire.data_received(data)
    with pytest.raises(BadReply):
        await wire.reply(0.5)
    assert transport.closing
    assert wire.lost


async def test_a_line_of_max_line_bytes_with_its_line_end_is_a_reply() -> None:
    wire, _, _ = attach()
    line = b"250 " + b"x" * (MAX_LINE - 6) + b"\r\n"
    assert len(line) == MAX_LINE
    for i in range(0, len(line), 1000):  # in pieces: the partial line is kept until its end
        wire.data_received(line[i : i + 1000])
    assert await wire.reply(0.5) == Reply(250, "x" * (MAX_LINE - 6))
    wire.data_received(b"2" * MAX_LINE)  # as long as allowed, its line end still to come
    assert not wire.lost
    wire.data_received(b"\n")
    with pytest.raises(BadReply, match="too long"):
        await wire.reply(0.5)


async def test_endless_continuation_lines_break_the_connection() -> None:
    wire, transport, _ = attach()
    for _ in range(40):  # 40 KB of "250-" lines, each one short enough
        wire.data_received(b"250-" + b"x" * 1000 + b"\r\n")
    with pytest.raises(BadReply, match="too long"):
        await wire.reply(0.5)
    assert transport.closing


async def test_replies_already_read_come_before_the_loss() -> None:
    wire, _, inner = attach()
    error = ConnectionResetError("reset")
    wire.data_received(b"250 OK\r\n421 4.4.2 closing\r\n")
    wire.connection_lost(error)
    assert inner.events == [("lost", error)]  # aiosmtplib learns the connection is gone
    assert await read_all(wire, 2) == [Reply(250, "OK"), Reply(421, "4.4.2 closing")]
    with pytest.raises(ConnectionLost):
        await wire.reply(0.5)
    with pytest.raises(ConnectionLost):
        wire.write(b"RSET\r\n")


async def test_a_loss_wakes_a_waiting_reader() -> None:
    wire, _, _ = attach()
    asyncio.get_running_loop().call_later(0.01, wire.connection_lost, None)
    with pytest.raises(ConnectionLost):
        await wire.reply(1.0)


async def test_end_of_file_fails_the_read_and_closes() -> None:
    wire, _, _ = attach()
    assert wire.eof_received() is False  # asyncio closes the transport
    with pytest.raises(ConnectionLost):
        await wire.reply(0.5)


async def test_flow_control_goes_to_the_displaced_protocol() -> None:
    wire, _, inner = attach()
    wire.pause_writing()
    wire.resume_writing()
    assert inner.events == ["pause", "resume"]


async def test_attach_once_and_detach_gives_the_transport_back() -> None:
    wire, transport, inner = attach()
    assert transport.get_protocol() is wire
    assert Wire.on(transport, inner) is wire  # type: ignore[arg-type]
    wire.detach()
    assert transport.get_protocol() is inner
    wire.write(b"NOOP\r\n")
    assert transport.written == [b"NOOP\r\n"]


async def test_discard_forgets_unsolicited_replies_and_partial_lines() -> None:
    wire, _, _ = attach()
    wire.data_received(b"421 4.4.2 idle too long\r\n250-half")
    assert not wire.idle
    wire.discard()
    assert wire.idle
    wire.data_received(b"250 2.1.0 OK\r\n")
    assert await wire.reply(0.5) == Reply(250, "2.1.0 OK")


async def test_flushed_waits_for_the_write_buffer_to_empty() -> None:
    wire, transport, _ = attach()
    await wire.flushed(0.5)  # nothing buffered: at once
    transport.buffered = 4096
    asyncio.get_running_loop().call_later(0.02, setattr, transport, "buffered", 0)
    await wire.flushed(1.0, poll=0.005)
    transport.buffered = 10
    with pytest.raises(ReplyTimeout):
        await wire.flushed(0.02, poll=0.005)
    asyncio.get_running_loop().call_later(0.01, wire.connection_lost, None)
    with pytest.raises(ConnectionLost):
        await wire.flushed(1.0, poll=0.005)


# -- the message and its final "." in one write ---------------------------------------------


async def test_message_and_end_go_in_one_write_when_they_fit_half_the_send_buffer() -> None:
    wire, transport, _ = attach(sndbuf=8192)  # Linux reports double: 4096 bytes usable
    assert wire.write_at_once(b"x" * 4093, b".\r\n")
    assert transport.written == [b"x" * 4093 + b".\r\n"]


@pytest.mark.parametrize(
    ("sndbuf", "tls", "buffered", "size"),
    [
        (8192, False, 0, 4094),  # one byte more than half the send buffer
        (8192, False, 1, 10),  # something still queued in this process
        (8192, True, 0, 10),  # TLS: the transport encrypts and queues in this process
        (None, False, 0, 10),  # no socket to ask
    ],
)
async def test_otherwise_nothing_is_written(
    sndbuf: int | None, tls: bool, buffered: int, size: int
) -> None:
    wire, transport, _ = attach(sndbuf=sndbuf, tls=tls)
    transport.buffered = buffered
    assert not wire.write_at_once(b"x" * size, b".\r\n")
    assert transport.written == []


async def test_a_lost_connection_writes_nothing_at_once() -> None:
    wire, transport, _ = attach()
    wire.connection_lost(None)
    with pytest.raises(ConnectionLost):
        wire.write_at_once(b"x", b".\r\n")
    assert transport.written == []


@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_send_buffer_is_read_from_real_transports_and_never_trusted_over_tls(
    loop: str, tls: bool
) -> None:
    ca = TestCA() if tls else None

    async def scenario() -> tuple[bool, bool]:
        accepted: list[asyncio.StreamWriter] = []
        server = await asyncio.start_server(
            lambda _r, w: accepted.append(w),
            "127.0.0.1",
            0,
            ssl=ca.server_context() if ca else None,
        )
        port = server.sockets[0].getsockname()[1]
        client_context = None
        if ca:
            client_context = ssl.create_default_context()
            ca.ca.configure_trust(client_context)
        transport, protocol = await asyncio.get_running_loop().create_connection(
            asyncio.Protocol, "127.0.0.1", port, ssl=client_context
        )
        try:
            while not accepted:
                await asyncio.sleep(0.001)
            wire = Wire(transport, protocol)
            sndbuf = transport.get_extra_info("socket").getsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF
            )
            small = wire.write_at_once(b"x" * 1000, b".\r\n")
            large = wire.write_at_once(b"x" * (sndbuf // 2), b".\r\n")
            return small, large
        finally:
            transport.close()
            for writer in accepted:
                writer.close()
            server.close()
            await server.wait_closed()

    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        small, large = uvloop.run(scenario())
    else:
        small, large = asyncio.run(scenario())
    assert (small, large) == (not tls, False)
