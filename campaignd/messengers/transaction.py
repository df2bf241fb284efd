"""One mail transaction on an open connection: MAIL, RCPT, DATA, the message and the final ".".

The DATA phase is done here rather than with aiosmtplib's ``SMTP.data()`` so we know whether
the final "." left this process: a failure before it is transient (safe to retry), no reply
after it is unknown (a retry could duplicate the mail).

When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one write and
their replies are read in order off a `Wire`: two round trips per message instead of four, and
three writes instead of five; two when the message and its "." fit in one write the kernel
surely takes whole (`Wire.write_at_once`). Otherwise each command waits for its reply through
aiosmtplib. Both paths give the same outcomes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import aiosmtplib
from aiosmtplib import SMTPException, SMTPServerDisconnected, SMTPTimeoutError

from campaignd.domain import OutcomeKind, SendOutcome
from campaignd.messengers.envelope import Envelope
from campaignd.messengers.wire import Reply, ReplyTimeout, Wire, WireError
from campaignd.replies import classify

_FLUSH_POLL = 0.002
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_LOST_BEFORE = "connection lost before the message was sent"
_TIMEOUT_BEFORE = "no reply before the message was sent (timeout)"
_LOST_AFTER = "connection lost after the message was sent; it may have been accepted"


@dataclass(frozen=True, slots=True)
class Delivery:
    """A transaction's outcome; `stale`: it failed on the first command of a reused connection."""

    outcome: SendOutcome
    stale: bool = False


def _lost(server: str, text: str) -> SendOutcome:
    return SendOutcome(OutcomeKind.TRANSIENT, server=server, text=text, connection_error=True)


def _from_reply(server: str, code: int, text: str) -> SendOutcome:
    c = classify(code, text)
    return SendOutcome(c.kind, server=server, code=code, enhanced=c.enhanced, text=text)


def _unknown(server: str, text: str) -> Delivery:
    return Delivery(SendOutcome(OutcomeKind.UNKNOWN, server=server, text=text))


def _final(server: str, code: int, text: str, refused: tuple[int, str] | None) -> Delivery:
    """The outcome of the reply to the final "."; a partial refusal is noted on a success."""
    outcome = _from_reply(server, code, text)
    if outcome.kind is OutcomeKind.SENT and refused is not None:
        text = f"{text} (refused: {refused[0]} {refused[1]})"
        outcome = SendOutcome(OutcomeKind.SENT, server=server, code=code, text=text)
    return Delivery(outcome)


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


async def deliver(
    client: aiosmtplib.SMTP, server: str, env: Envelope, payload: bytes, *, reused: bool
) -> Delivery:
    """One MAIL/RCPT/DATA transaction; `payload` is dot-stuffed and CRLF-terminated."""
    if env.smtputf8 and not client.supports_extension("smtputf8"):
        return Delivery(
            SendOutcome(
                OutcomeKind.PERMANENT,
                server=server,
                text="the address has a non-ASCII local part, which needs SMTPUTF8, "
                f"and {server} does not offer SMTPUTF8",
            )
        )
    options: list[bytes] = []
    if client.supports_extension("size"):
        options.append(b"SIZE=%d" % len(payload))
    if env.smtputf8:
        options.append(b"SMTPUTF8")
    if env.eightbit and client.supports_extension("8bitmime"):
        options.append(b"BODY=8BITMIME")
    if client.supports_extension("pipelining"):
        return await _pipelined(client, server, env, options, payload, reused=reused)
    first = True
    try:
        response = await client.execute_command(b"MAIL", env.mail_from, *options)
        first = False
        if response.code != 250:
            await _reset(client)
            return Delivery(_from_reply(server, response.code, response.message))
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
            return Delivery(_from_reply(server, refused.code, refused.message))
        response = await client.execute_command(b"DATA")
        if response.code != 354:
            await _reset(client)
            return Delivery(_from_reply(server, response.code, response.message))
        protocol = client.protocol
        if protocol is None:
            raise SMTPServerDisconnected("Connection lost")
        protocol.write(payload)
        await _flush(client, client.timeout or 60.0)
    except SMTPTimeoutError:
        client.close()
        return Delivery(_lost(server, _TIMEOUT_BEFORE))
    except (SMTPException, OSError):
        client.close()
        return Delivery(_lost(server, _LOST_BEFORE), stale=reused and first)
    except ValueError as exc:  # a control character in an address; Envelope should prevent it
        await _reset(client)
        return Delivery(SendOutcome(OutcomeKind.PERMANENT, server=server, text=str(exc)))
    # From here on the final "." may have reached the server: never retry without a reply.
    try:
        protocol.write(b".\r\n")
        response = await protocol.read_response(timeout=client.timeout)
    except SMTPTimeoutError:
        client.close()
        return _unknown(server, _timeout_after(client.timeout))
    except (SMTPException, OSError):
        client.close()
        return _unknown(server, _LOST_AFTER)
    if response.code == 421:
        client.close()
    return _final(
        server,
        response.code,
        response.message,
        (refused.code, refused.message) if refused else None,
    )


def _timeout_after(limit: float | None) -> str:
    return f"no reply within {limit:g}s after the message was sent; it may have been accepted"


def _refusal(replies: Sequence[Reply], recipients: int) -> Reply | None:
    """Among the replies to MAIL, RCPT... read so far, the one that ends the transaction."""
    if not replies:
        return None
    if replies[0].code != 250:
        return replies[0]
    rcpts = replies[1 : 1 + recipients]
    for reply in rcpts:
        if reply.code == 421:  # the server is closing the connection
            return reply
    if len(rcpts) == recipients and all(r.code not in (250, 251) for r in rcpts):
        return rcpts[0]
    return None


async def _pipelined(
    client: aiosmtplib.SMTP,
    server: str,
    env: Envelope,
    options: list[bytes],
    payload: bytes,
    *,
    reused: bool,
) -> Delivery:
    """MAIL, RCPT... and DATA in one write, their replies in order; then the message and ".".

    A refusal among the replies decides the outcome as on the unpipelined path; the DATA
    reply after it (503 or 554) is read and the transaction reset with RSET, unless the
    server said 421 or, wrongly, 354 (then the connection is closed instead).
    """
    transport, inner = client.transport, client.protocol
    if transport is None or inner is None or not client.is_connected:
        client.close()
        return Delivery(_lost(server, _LOST_BEFORE), stale=reused)
    if _CONTROL.search(b" ".join((env.mail_from, *env.rcpt_to))):
        # Envelope should prevent it; aiosmtplib refuses it the same way.
        text = "Command arg contains a prohibited control character"
        return Delivery(SendOutcome(OutcomeKind.PERMANENT, server=server, text=text))
    wire = Wire.on(cast(asyncio.Transport, transport), inner)
    wire.discard()  # whatever came while the connection was idle answers nothing we sent
    limit = client.timeout or 60.0
    recipients = len(env.rcpt_to)
    batch = [b" ".join((b"MAIL", env.mail_from, *options)), *(b"RCPT " + r for r in env.rcpt_to)]
    batch.append(b"DATA\r\n")
    replies: list[Reply] = []
    try:
        wire.write(b"\r\n".join(batch))
        await wire.replies(recipients + 2, limit, replies)
    except WireError as exc:
        client.close()
        refusal = _refusal(replies, recipients)
        if refusal is not None:
            return Delivery(_from_reply(server, refusal.code, refusal.message))
        if isinstance(exc, ReplyTimeout):
            return Delivery(_lost(server, _TIMEOUT_BEFORE))
        return Delivery(_lost(server, _LOST_BEFORE), stale=reused and not replies)
    data = replies[-1]
    refusal = _refusal(replies, recipients)
    if refusal is None and data.code != 354:
        refusal = data
    if refusal is not None:
        if data.code in (354, 421) or refusal.code == 421:
            client.close()
        else:
            await _wire_reset(client, wire, limit)
        return Delivery(_from_reply(server, refusal.code, refusal.message))
    refused = next((r for r in replies[1:-1] if r.code not in (250, 251)), None)
    # The message, and once every byte of it has left this process, the final "." (in the
    # same write when the kernel certainly takes both at once: one system call fewer).
    try:
        at_once = wire.write_at_once(payload, b".\r\n")
        if not at_once:
            wire.write(payload)
            await wire.flushed(limit, _FLUSH_POLL)
    except ReplyTimeout:
        client.close()
        return Delivery(_lost(server, _TIMEOUT_BEFORE))
    except WireError:
        client.close()
        return Delivery(_lost(server, _LOST_BEFORE))
    # From here on the final "." may have reached the server: never retry without a reply.
    try:
        if not at_once:
            wire.write(b".\r\n")
        response = await wire.reply(limit)
    except ReplyTimeout:
        client.close()
        return _unknown(server, _timeout_after(limit))
    except WireError:
        client.close()
        return _unknown(server, _LOST_AFTER)
    if response.code == 421 or not wire.idle:  # closing, or more replies than commands
        client.close()
    return _final(server, response.code, response.message, refused)


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
