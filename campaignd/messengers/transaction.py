"""One mail transaction on an open connection: MAIL, RCPT, DATA, the message and the final ".".

The DATA phase is done here rather than with aiosmtplib's ``SMTP.data()`` so we know whether
the final "." left this process: a failure before it is transient (safe to retry), no reply
after it is unknown (a retry could duplicate the mail). What each reply or failure means for
the send is decided in outcomes.py (pure).

When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one write and
their replies are read in order off a `Wire`: two round trips per message instead of four, and
three writes instead of five; two when the message and its "." fit in one write the kernel
surely takes whole (`Wire.room`). Otherwise each command waits for its reply through
aiosmtplib. Both paths give the same outcomes.

Across messages (RFC 2920 lets the message content open a group of commands): when that one
write is made while another send waits for a connection slot of the same server, the
connection adopts it (`Adopt`) and its MAIL, RCPT... and DATA travel in the same write, after
the ".". Once the reply to the "." is read the connection (and the slot) go to the adopted
send, which only reads its replies (`resume`): one write per message while sends wait. Its
message was not sent, so if the connection fails before its 354 it is retried like a send on
a stale connection.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import aiosmtplib
from aiosmtplib import SMTPException, SMTPServerDisconnected, SMTPTimeoutError

from campaignd.domain import OutcomeKind, SendOutcome
from campaignd.errors import ReplyTimeout, WireError
from campaignd.messengers.envelope import Envelope
from campaignd.messengers.outcomes import (
    Delivery,
    envelope_failed,
    failed_after,
    failed_before,
    final,
    first_refusal,
    from_reply,
    no_smtputf8,
)
from campaignd.messengers.wire import Reply, Wire

_FLUSH_POLL = 0.002
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


@dataclass(slots=True, eq=False)
class Waiting:
    """A send waiting for a connection slot, which a connection about to send may adopt."""

    env: Envelope
    payload: bytes
    batch: bytes = b""  # its MAIL, RCPT... and DATA, set when a connection adopts it
    client: aiosmtplib.SMTP | None = None  # the connection handed over, its envelope sent


#: Called with the connection and a test of whether a waiting send fits it (the test sets its
#: `batch`): the longest waiting send, taken out of the wait if it fits, or None.
Adopt = Callable[[aiosmtplib.SMTP, Callable[[Waiting], bool]], Waiting | None]


async def _reset(client: aiosmtplib.SMTP) -> None:
    """End a refused transaction so the connection can be reused; close it if that fails."""
    if not client.is_connected:
        return
    try:
        response = await client.execute_command(b"RSET")
    except (SMTPException, OSError):
        client.close()
        return
    if response.code != 250:
        client.close()


async def _flush(client: aiosmtplib.SMTP, limit: float) -> None:
    """Wait until every byte written so far has left this process (normally at once)."""
    if client.transport is None:
        raise SMTPServerDisconnected("Connection lost")
    # Not isinstance(..., asyncio.WriteTransport): uvloop's transports are not registered as
    # one, and the check made this wait a no-op there.
    transport = cast(asyncio.WriteTransport, client.transport)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while transport.get_write_buffer_size():
        if not client.is_connected:
            raise SMTPServerDisconnected("Connection lost")
        if loop.time() > deadline:
            raise SMTPTimeoutError("Timed out sending the message")
        await asyncio.sleep(_FLUSH_POLL)
    if not client.is_connected:
        raise SMTPServerDisconnected("Connection lost")


def _options(client: aiosmtplib.SMTP, env: Envelope, payload: bytes) -> list[bytes]:
    """The MAIL parameters for this message on this connection."""
    options: list[bytes] = []
    if client.supports_extension("size"):
        options.append(b"SIZE=%d" % len(payload))
    if env.smtputf8:
        options.append(b"SMTPUTF8")
    if env.eightbit and client.supports_extension("8bitmime"):
        options.append(b"BODY=8BITMIME")
    return options


def _batch(env: Envelope, options: list[bytes]) -> bytes:
    """MAIL, RCPT... and DATA, as one pipelined write."""
    batch = [b" ".join((b"MAIL", env.mail_from, *options)), *(b"RCPT " + r for r in env.rcpt_to)]
    batch.append(b"DATA\r\n")
    return b"\r\n".join(batch)


def _pipelined_batch(client: aiosmtplib.SMTP, env: Envelope, payload: bytes) -> bytes | None:
    """The batch `deliver` would write for this send on `client`; None if it would not pipeline."""
    if env.smtputf8 and not client.supports_extension("smtputf8"):
        return None
    if not client.supports_extension("pipelining"):
        return None
    if _CONTROL.search(b" ".join((env.mail_from, *env.rcpt_to))):
        return None
    return _batch(env, _options(client, env, payload))


async def deliver(
    client: aiosmtplib.SMTP,
    server: str,
    env: Envelope,
    payload: bytes,
    *,
    reused: bool,
    adopt: Adopt | None = None,
) -> Delivery:
    """One MAIL/RCPT/DATA transaction; `payload` is dot-stuffed and CRLF-terminated.

    `adopt`: see `Adopt`; a send it returns has had its envelope sent on `client` when this
    returns, and the caller hands it the connection (if still connected) and its slot.
    """
    if env.smtputf8 and not client.supports_extension("smtputf8"):
        return no_smtputf8(server)
    options = _options(client, env, payload)
    if client.supports_extension("pipelining"):
        return await _pipelined(client, server, env, options, payload, reused=reused, adopt=adopt)
    return await _stepwise(client, server, env, options, payload, reused=reused)


async def _stepwise(
    client: aiosmtplib.SMTP,
    server: str,
    env: Envelope,
    options: list[bytes],
    payload: bytes,
    *,
    reused: bool,
) -> Delivery:
    """Without PIPELINING: each command waits for its reply through aiosmtplib."""
    first = True
    try:
        response = await client.execute_command(b"MAIL", env.mail_from, *options)
        first = False
        if response.code != 250:
            await _reset(client)
            return Delivery(from_reply(server, response.code, response.message))
        refused = None
        accepted = 0
        for rcpt in env.rcpt_to:
            response = await client.execute_command(b"RCPT", rcpt)
            if response.code in (250, 251):
                accepted += 1
            elif refused is None:
                refused = response
        if refused is not None and not accepted:
            await _reset(client)
            return Delivery(from_reply(server, refused.code, refused.message))
        response = await client.execute_command(b"DATA")
        if response.code != 354:
            await _reset(client)
            return Delivery(from_reply(server, response.code, response.message))
        protocol = client.protocol
        if protocol is None:
            raise SMTPServerDisconnected("Connection lost")
        protocol.write(payload)
        await _flush(client, client.timeout or 60.0)
    except (SMTPException, OSError) as exc:
        client.close()
        return failed_before(server, isinstance(exc, SMTPTimeoutError), stale=reused and first)
    except ValueError as exc:  # a control character in an address; Envelope should prevent it
        await _reset(client)
        return Delivery(SendOutcome(OutcomeKind.PERMANENT, server=server, text=str(exc)))
    # From here on the final "." may have reached the server: never retry without a reply.
    try:
        protocol.write(b".\r\n")
        response = await protocol.read_response(timeout=client.timeout)
    except (SMTPException, OSError) as exc:
        client.close()
        return failed_after(server, isinstance(exc, SMTPTimeoutError), client.timeout)
    if response.code == 421:
        client.close()
    return final(
        server,
        response.code,
        response.message,
        (refused.code, refused.message) if refused else None,
    )


async def _pipelined(
    client: aiosmtplib.SMTP,
    server: str,
    env: Envelope,
    options: list[bytes],
    payload: bytes,
    *,
    reused: bool,
    adopt: Adopt | None,
) -> Delivery:
    """MAIL, RCPT... and DATA in one write, their replies in order; then the message and ".".

    A refusal among the replies decides the outcome as on the unpipelined path; the DATA
    reply after it (503 or 554) is read and the transaction reset with RSET, unless the
    server said 421 or, wrongly, 354 (then the connection is closed instead).
    """
    transport, inner = client.transport, client.protocol
    if transport is None or inner is None or not client.is_connected:
        client.close()
        return failed_before(server, False, stale=reused)
    if _CONTROL.search(b" ".join((env.mail_from, *env.rcpt_to))):
        # Envelope should prevent it; aiosmtplib refuses it the same way.
        text = "Command arg contains a prohibited control character"
        return Delivery(SendOutcome(OutcomeKind.PERMANENT, server=server, text=text))
    wire = Wire.on(cast(asyncio.Transport, transport), inner)
    wire.discard()  # whatever came while the connection was idle answers nothing we sent
    return await _transaction(
        client, server, wire, env, payload, _batch(env, options), reused=reused, adopt=adopt
    )


async def resume(client: aiosmtplib.SMTP, server: str, waiting: Waiting, adopt: Adopt) -> Delivery:
    """Carry on an adopted send: its MAIL, RCPT... and DATA went out after the previous ".".

    Any failure before its 354 is transient and `stale` (its message was not sent): retry it.
    """
    transport, inner = client.transport, client.protocol
    if transport is None or inner is None or not client.is_connected:
        client.close()
        return failed_before(server, False, stale=True)
    wire = Wire.on(cast(asyncio.Transport, transport), inner)
    return await _transaction(
        client, server, wire, waiting.env, waiting.payload, None, reused=True, adopt=adopt
    )


async def _transaction(
    client: aiosmtplib.SMTP,
    server: str,
    wire: Wire,
    env: Envelope,
    payload: bytes,
    batch: bytes | None,
    *,
    reused: bool,
    adopt: Adopt | None,
) -> Delivery:
    """Write `batch` (None: it went out with the previous message), then as `_pipelined` says."""
    limit = client.timeout or 60.0
    recipients = len(env.rcpt_to)
    replies: list[Reply] = []
    try:
        if batch is not None:
            wire.write(batch)
        await wire.replies(recipients + 2, limit, replies)
    except WireError as exc:
        client.close()
        return envelope_failed(server, exc, replies, recipients, batch is None, reused)
    data = replies[-1]
    refusal = first_refusal(replies, recipients)
    if refusal is None and data.code != 354:
        refusal = data
    if refusal is not None:
        return await _refused(client, server, wire, limit, data, refusal)
    refused = next((r for r in replies[1:-1] if r.code not in (250, 251)), None)
    # The message and, once all of it has left this process, the final "." (in one write, with
    # a waiting send's MAIL, RCPT... and DATA after it, when the kernel surely takes it all).
    adopted: Waiting | None = None
    try:
        room = wire.room - len(payload) - 3
        at_once = room >= 0
        if not at_once:
            wire.write(payload)
            await wire.flushed(limit, _FLUSH_POLL)
        else:
            if adopt is not None and not wire.lost:
                adopted = adopt(client, lambda w: _fits(client, w, room))
            if adopted is None:
                wire.write(payload + b".\r\n")
            else:
                wire.write(b"".join((payload, b".\r\n", adopted.batch)))
    except WireError as exc:
        client.close()
        return failed_before(server, isinstance(exc, ReplyTimeout))
    # From here on the final "." may have reached the server: never retry without a reply.
    try:
        if not at_once:
            wire.write(b".\r\n")
        response = await wire.reply(limit)
    except WireError as exc:
        client.close()
        return failed_after(server, isinstance(exc, ReplyTimeout), limit)
    # Closing, or more replies than commands (unless they answer the adopted send).
    if response.code == 421 or (adopted is None and not wire.idle):
        client.close()
    return final(server, response.code, response.message, refused)


async def _refused(
    client: aiosmtplib.SMTP, server: str, wire: Wire, limit: float, data: Reply, refusal: Reply
) -> Delivery:
    """A refused pipelined transaction: reset it with RSET, or close the connection when the
    server is closing it (421) or, wrongly, said 354 to DATA."""
    if data.code in (354, 421) or refusal.code == 421:
        client.close()
    else:
        await _wire_reset(client, wire, limit)
    return Delivery(from_reply(server, refusal.code, refusal.message))


def _fits(client: aiosmtplib.SMTP, waiting: Waiting, room: int) -> bool:
    """Would `deliver` pipeline this waiting send on `client`, in `room` bytes? Set its batch."""
    batch = _pipelined_batch(client, waiting.env, waiting.payload)
    if batch is None or len(batch) > room:
        return False
    waiting.batch = batch
    return True


async def _wire_reset(client: aiosmtplib.SMTP, wire: Wire, limit: float) -> None:
    """RSET on a pipelined connection; close it if that fails."""
    try:
        wire.write(b"RSET\r\n")
        reply = await wire.reply(limit)
    except WireError:
        client.close()
        return
    if reply.code != 250:
        client.close()


async def say_goodbye(client: aiosmtplib.SMTP) -> None:
    """QUIT politely (briefly), then close whatever happens."""
    try:
        wire = client.transport.get_protocol() if client.transport is not None else None
        if isinstance(wire, Wire):
            wire.detach()  # QUIT goes through aiosmtplib, which needs its protocol back
        if client.is_connected:
            await client.quit(timeout=2.0)
    except (SMTPException, OSError):
        pass
    finally:
        client.close()
