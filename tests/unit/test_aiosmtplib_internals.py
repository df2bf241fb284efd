"""The parts of aiosmtplib below its public API that the pipelined SMTP path relies on.

transaction.py writes the message with ``client.protocol.write`` and reads the reply to the
final "." with ``client.protocol.read_response``; wire.py takes the transport's protocol slot
from ``client.protocol`` and hands flow control and the end of the connection on to it. None
of that is aiosmtplib's documented API, so pyproject.toml pins ``aiosmtplib<6``; these tests
name what changed when a new version moves it, instead of sends failing in production.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import cast

import aiosmtplib
import pytest
from aiosmtplib.protocol import SMTPProtocol

from campaignd.messengers.wire import Wire

VERSION = getattr(aiosmtplib, "__version__", "?")
USED_BY = "campaignd/messengers/transaction.py and wire.py"


def changed(what: str, detail: str) -> str:
    return (
        f"aiosmtplib {VERSION} changed {what}: {detail}. {USED_BY} rely on it; adapt them "
        "(and this test) before allowing this version in pyproject.toml"
    )


def params(function: Callable[..., object]) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_smtp_protocol_methods_keep_their_shape() -> None:
    expected = {
        # name: (parameters, coroutine function?)
        "write": (["self", "data"], False),
        "read_response": (["self", "timeout"], True),
        "connection_lost": (["self", "exc"], False),
        "pause_writing": (["self"], False),
        "resume_writing": (["self"], False),
    }
    for name, (names, is_coroutine) in expected.items():
        method = getattr(SMTPProtocol, name, None)
        assert callable(method), changed(f"SMTPProtocol.{name}", "it is gone")
        got = params(method)
        assert got == names, changed(f"SMTPProtocol.{name}", f"parameters {got}, not {names}")
        assert inspect.iscoroutinefunction(method) is is_coroutine, changed(
            f"SMTPProtocol.{name}", "async" if is_coroutine else "no longer plain (now async)"
        )
    timeout = inspect.signature(SMTPProtocol.read_response).parameters["timeout"]
    assert timeout.default is None, changed(
        "SMTPProtocol.read_response", f"timeout defaults to {timeout.default!r}, not None"
    )
    assert issubclass(SMTPProtocol, asyncio.BaseProtocol), changed(
        "SMTPProtocol", "it is no longer an asyncio protocol a Wire can stand in for"
    )
    assert isinstance(inspect.getattr_static(SMTPProtocol, "is_connected", None), property), (
        changed("SMTPProtocol.is_connected", "it is no longer a property")
    )


def test_smtp_client_exposes_protocol_transport_and_timeout() -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=25, timeout=7.0)
    for name in ("protocol", "transport"):
        assert hasattr(client, name), changed(f"SMTP.{name}", "the attribute is gone")
        assert getattr(client, name) is None, changed(f"SMTP.{name}", "it is set before connect()")
    assert client.timeout == 7.0, changed("SMTP.timeout", "it no longer holds the timeout")
    assert isinstance(inspect.getattr_static(aiosmtplib.SMTP, "is_connected", None), property), (
        changed("SMTP.is_connected", "it is no longer a property")
    )
    fields = getattr(aiosmtplib.SMTPResponse, "_fields", ())
    assert fields[:2] == ("code", "message"), changed("SMTPResponse", f"its fields are {fields}")


# -- the same, on a live connection ----------------------------------------------------------


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A tiny SMTP server: greets, answers EHLO and NOOP, says goodbye to QUIT or to "HANG"."""
    writer.write(b"220 test ESMTP\r\n")
    while line := await reader.readline():
        verb = line.strip().upper()
        if verb.startswith(b"EHLO"):
            writer.write(b"250-test\r\n250 PIPELINING\r\n")
        elif verb == b"NOOP":
            writer.write(b"250 ok\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            break
        elif verb == b"HANG":
            break
        else:
            writer.write(b"500 what\r\n")
        await writer.drain()
    writer.close()


@pytest.fixture
async def port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_answer, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def connected(port: int) -> tuple[aiosmtplib.SMTP, asyncio.Transport, SMTPProtocol]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5.0, start_tls=False)
    await client.connect()
    await client.ehlo()
    protocol, transport = client.protocol, client.transport
    assert isinstance(protocol, SMTPProtocol), changed(
        "SMTP.protocol", f"after connect() it is {type(protocol).__name__}, not SMTPProtocol"
    )
    assert transport is not None, changed("SMTP.transport", "it is None after connect()")
    assert transport.get_protocol() is protocol, changed(
        "SMTP.transport", "its protocol slot does not hold SMTP.protocol (a Wire swaps it)"
    )
    return client, cast(asyncio.Transport, transport), protocol


async def test_protocol_write_and_read_response_talk_to_the_server(port: int) -> None:
    client, _, protocol = await connected(port)
    protocol.write(b"NOOP\r\n")
    reply = await protocol.read_response(timeout=5.0)
    assert (reply.code, reply.message) == (250, "ok"), changed(
        "SMTPProtocol.write/read_response", f"NOOP got {reply!r}"
    )
    await client.quit()


async def test_a_displaced_protocol_keeps_the_client_state(port: int) -> None:
    client, transport, protocol = await connected(port)
    wire = Wire.on(transport, protocol)
    assert client.is_connected, changed(
        "SMTP.is_connected", "it turns False once a Wire holds the transport's protocol slot"
    )
    wire.detach()
    assert transport.get_protocol() is protocol
    reply = await client.quit()  # through aiosmtplib again, as say_goodbye does
    assert reply.code == 221, changed("the protocol given back by a Wire", f"QUIT got {reply!r}")


async def test_the_end_of_the_connection_reaches_the_client_through_a_wire(port: int) -> None:
    client, transport, protocol = await connected(port)
    wire = Wire.on(transport, protocol)
    wire.write(b"HANG\r\n")  # the server closes the connection
    for _ in range(500):
        if not client.is_connected:
            break
        await asyncio.sleep(0.01)
    assert not client.is_connected, changed(
        "SMTPProtocol.connection_lost",
        "forwarding it no longer marks the client disconnected",
    )
    assert client.protocol is None, changed(
        "SMTPProtocol.connection_lost", "it no longer closes the SMTP client that owns it"
    )
