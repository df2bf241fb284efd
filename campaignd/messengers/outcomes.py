"""What a send's SMTP replies and failures mean: its SendOutcome, and whether to retry it.

Pure: transaction.py does the I/O and calls these with what it read; a success calls only
`first_refusal` and `final`, a failure one more. The rule behind every failure: before the
final "." left this process it is transient (safe to retry); with no reply after it the
outcome is unknown (a retry could duplicate the mail).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from campaignd.domain import OutcomeKind, SendOutcome
from campaignd.errors import ReplyTimeout, WireError
from campaignd.messengers.wire import Reply
from campaignd.replies import classify

LOST_BEFORE = "connection lost before the message was sent"
TIMEOUT_BEFORE = "no reply before the message was sent (timeout)"
LOST_AFTER = "connection lost after the message was sent; it may have been accepted"


@dataclass(frozen=True, slots=True)
class Delivery:
    """A transaction's outcome; `stale`: it failed on the first command of a reused connection."""

    outcome: SendOutcome
    stale: bool = False


def lost(server: str, text: str) -> SendOutcome:
    return SendOutcome(OutcomeKind.TRANSIENT, server=server, text=text, connection_error=True)


def from_reply(server: str, code: int, text: str) -> SendOutcome:
    c = classify(code, text)
    return SendOutcome(c.kind, server=server, code=code, enhanced=c.enhanced, text=text)


def unknown(server: str, text: str) -> Delivery:
    return Delivery(SendOutcome(OutcomeKind.UNKNOWN, server=server, text=text))


def final(server: str, code: int, text: str, refused: tuple[int, str] | None) -> Delivery:
    """The outcome of the reply to the final "."; a partial refusal is noted on a success."""
    outcome = from_reply(server, code, text)
    if outcome.kind is OutcomeKind.SENT and refused is not None:
        text = f"{text} (refused: {refused[0]} {refused[1]})"
        outcome = SendOutcome(OutcomeKind.SENT, server=server, code=code, text=text)
    return Delivery(outcome)


def failed_before(server: str, timed_out: bool, *, stale: bool = False) -> Delivery:
    """The connection failed before the message was sent: transient, safe to retry."""
    if timed_out:
        return Delivery(lost(server, TIMEOUT_BEFORE))
    return Delivery(lost(server, LOST_BEFORE), stale=stale)


def failed_after(server: str, timed_out: bool, limit: float | None) -> Delivery:
    """No reply after the final ".": unknown, since a retry could duplicate the mail."""
    return unknown(server, _timeout_after(limit) if timed_out else LOST_AFTER)


def _timeout_after(limit: float | None) -> str:
    return f"no reply within {limit:g}s after the message was sent; it may have been accepted"


def no_smtputf8(server: str) -> Delivery:
    text = (
        "the address has a non-ASCII local part, which needs SMTPUTF8, "
        f"and {server} does not offer SMTPUTF8"
    )
    return Delivery(SendOutcome(OutcomeKind.PERMANENT, server=server, text=text))


def first_refusal(replies: Sequence[Reply], recipients: int) -> Reply | None:
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


def envelope_failed(
    server: str,
    exc: WireError,
    replies: Sequence[Reply],
    recipients: int,
    adopted: bool,
    reused: bool,
) -> Delivery:
    """The connection failed while MAIL, RCPT... and DATA were answered: a refusal read
    before it decides; else transient, `stale` (retry on another connection) when adopted
    (its message was not sent) or when the first reply on a reused connection never came."""
    refusal = first_refusal(replies, recipients)
    if refusal is not None:
        return Delivery(from_reply(server, refusal.code, refusal.message))
    timed_out = isinstance(exc, ReplyTimeout)
    if adopted:
        return Delivery(lost(server, TIMEOUT_BEFORE if timed_out else LOST_BEFORE), stale=True)
    return failed_before(server, timed_out, stale=reused and not replies)
