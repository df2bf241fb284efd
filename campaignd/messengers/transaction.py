"""One mail transaction on an open connection: MAIL, RCPT, DATA, the message and the final ".".

The DATA phase is done here rather than with aiosmtplib's ``SMTP.data()`` so we know whether
the final "." left this process: a failure before it is transient (safe to retry), no reply
after it is unknown (a retry could duplicate the mail).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiosmtplib
from aiosmtplib import SMTPException, SMTPServerDisconnected, SMTPTimeoutError

from campaignd.domain import OutcomeKind, SendOutcome
from campaignd.messengers.envelope import Envelope
from campaignd.replies import classify

_FLUSH_POLL = 0.002


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
    transport = client.transport
    if transport is None:
        raise SMTPServerDisconnected("Connection lost")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while isinstance(transport, asyncio.WriteTransport) and transport.get_write_buffer_size():
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
        return Delivery(_lost(server, "no reply before the message was sent (timeout)"))
    except (SMTPException, OSError):
        client.close()
        text = "connection lost before the message was sent"
        return Delivery(_lost(server, text), stale=reused and first)
    except ValueError as exc:  # a control character in an address; Envelope should prevent it
        await _reset(client)
        return Delivery(SendOutcome(OutcomeKind.PERMANENT, server=server, text=str(exc)))
    # From here on the final "." may have reached the server: never retry without a reply.
    try:
        protocol.write(b".\r\n")
        response = await protocol.read_response(timeout=client.timeout)
    except SMTPTimeoutError:
        client.close()
        return Delivery(
            SendOutcome(
                OutcomeKind.UNKNOWN,
                server=server,
                text=f"no reply within {client.timeout:g}s after the message was sent; "
                "it may have been accepted",
            )
        )
    except (SMTPException, OSError):
        client.close()
        return Delivery(
            SendOutcome(
                OutcomeKind.UNKNOWN,
                server=server,
                text="connection lost after the message was sent; it may have been accepted",
            )
        )
    if response.code == 421:
        client.close()
    outcome = _from_reply(server, response.code, response.message)
    if outcome.kind is OutcomeKind.SENT and refused is not None:
        text = f"{response.message} (refused: {refused.code} {refused.message})"
        outcome = SendOutcome(OutcomeKind.SENT, server=server, code=response.code, text=text)
    return Delivery(outcome)


async def say_goodbye(client: aiosmtplib.SMTP) -> None:
    """QUIT politely (briefly), then close whatever happens."""
    try:
        if client.is_connected:
            await client.quit(timeout=2.0)
    except (SMTPException, OSError):
        pass
    finally:
        client.close()
