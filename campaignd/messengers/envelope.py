"""The SMTP envelope of one send, and the message bytes as they go on the wire after DATA."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr

from campaignd.addresses import smtp_address
from campaignd.errors import InvalidAddress

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BARE_LF = re.compile(rb"(?<!\r)\n|\r(?!\n)")


def _bare(address: str) -> str:
    if _CONTROL.search(address):
        return "\n"  # refused by the caller; never parse around a line break
    if "<" in address:
        address = parseaddr(address)[1]
    return address.strip()


def _address(role: str, raw: str) -> tuple[bytes, bool]:
    """The bare address as bytes and whether it needs SMTPUTF8; raise InvalidAddress.

    campaignd.addresses checks and encodes it (the same rules as everywhere else) and checks
    the encoded form, so nothing in it can end the address or add an SMTP parameter.
    """
    try:
        address = smtp_address(_bare(raw))
    except InvalidAddress as exc:
        raise InvalidAddress(f"the {role} address is not usable: {exc}") from None
    return address.text.encode("utf-8"), address.smtputf8


# A bare ASCII address that _address would return unchanged (no IDNA, no SMTPUTF8).
_PLAIN = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def _mail_from(sender: str) -> tuple[bytes, bool]:
    """b"FROM:<...>" for a sender. A plain address (a VERP sender is one per recipient) is used
    as it is; others are checked once per distinct sender (a campaign's messages share theirs)."""
    if _PLAIN.fullmatch(sender):
        return b"FROM:<" + sender.encode("ascii") + b">", False
    return _checked_mail_from(sender)


@functools.lru_cache(maxsize=32)
def _checked_mail_from(sender: str) -> tuple[bytes, bool]:
    if not _bare(sender):
        return b"FROM:<>", False  # the null sender
    address, needs = _address("sender", sender)
    return b"FROM:<" + address + b">", needs


@dataclass(frozen=True, slots=True)
class Envelope:
    mail_from: bytes  # b"FROM:<a@example.org>"
    rcpt_to: tuple[bytes, ...]  # b"TO:<b@example.org>", one per recipient
    smtputf8: bool = False
    eightbit: bool = False

    @classmethod
    def build(cls, sender: str, recipients: Sequence[str], message: bytes) -> Envelope:
        """Bare addresses from `sender` and `recipients`; raise InvalidAddress if unusable."""
        if not recipients:
            raise InvalidAddress("no recipients")
        mail_from, utf8 = _mail_from(sender)
        rcpt_to: list[bytes] = []
        for raw in recipients:
            address, needs = _address("recipient", raw)
            utf8 = utf8 or needs
            rcpt_to.append(b"TO:<" + address + b">")
        return cls(
            mail_from=mail_from,
            rcpt_to=tuple(rcpt_to),
            smtputf8=utf8,
            eightbit=not message.isascii(),
        )


def wire_payload(message: bytes) -> bytes:
    """CRLF line ends, a final CRLF and leading dots doubled, ready for DATA (without the ".")."""
    crlf = message.count(b"\r\n")  # counting is far cheaper than a regex search of the body
    if message.count(b"\n") != crlf or message.count(b"\r") != crlf:
        message = _BARE_LF.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    # Every LF now follows a CR, so a line starts at the beginning or after a CRLF. A literal
    # replace is a fifth of the multiline regex's cost and returns the same object when the
    # message has no such dot.
    if message.startswith(b"."):
        message = b"." + message
    return message.replace(b"\r\n.", b"\r\n..")
