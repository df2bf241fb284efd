"""Address headers of a campaign (Reply-To, Sender...): the addresses fixed, only names rendered.

A campaign header whose name is in ``ADDRESS_HEADERS`` is a comma-separated list of mailboxes,
each ``addr@example.org``, ``Display Name <addr@example.org>`` or ``"Display, Name"
<addr@example.org>``. The rule: every address is literal text in the template, checked once
(campaignd.addresses); templates (``{{ ... }}``, ``{% ... %}``) may only fill display names.
Each display name is rendered per subscriber and written quoted or RFC 2047-encoded (mime), so
no subscriber data (commas, angle brackets, quotes, line breaks, encoded words) can add,
remove or replace an address. A template that puts markup in an address, or cannot be read as
such a list, is refused when the campaign is created or prepared.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from campaignd.addresses import smtp_address
from campaignd.errors import HeaderInjection, InvalidAddress, TemplateError
from campaignd.rendering.source import split_markup

ADDRESS_HEADERS = frozenset(
    {
        "reply-to", "sender", "errors-to", "disposition-notification-to", "return-receipt-to",
        "mail-followup-to", "mail-reply-to", "resent-from", "resent-sender", "resent-to",
        "resent-cc", "resent-bcc", "resent-reply-to",
    }
)  # fmt: skip

#: Joins a header's display-name templates into one rendered section; random, so no data can
#: forge it (and a split into any other number of parts fails that recipient).
SEPARATOR = f"\x00{secrets.token_hex(12)}\x00"
_PLACEHOLDER = re.compile(r"\x01(\d+)\x02")
_EXAMPLE = "as in {{ subscriber.name }} <news@example.org>"


@dataclass(frozen=True, slots=True)
class Mailbox:
    display: str  # a template source, may be empty
    address: str  # the address as it goes in the header (campaignd.addresses.smtp_address)


def is_address_header(name: str) -> bool:
    return name.lower() in ADDRESS_HEADERS


def parse(name: str, value: str) -> tuple[Mailbox, ...]:
    """The mailboxes of an address-header template; HeaderInjection says what is wrong."""
    try:
        pieces = split_markup(value)
    except TemplateError as exc:
        raise HeaderInjection(f"header {name}: {exc}") from None
    markup = [p.text for p in pieces if p.markup]
    masked, n = [], 0
    for piece in pieces:
        if piece.markup:
            masked.append(f"\x01{n}\x02")
            n += 1
        else:
            masked.append(piece.text)

    def unmask(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: markup[int(m[1])], text)

    mailboxes: list[Mailbox] = []
    for part in _split_commas(name, "".join(masked)):
        display, addr = _display_and_address(name, part)
        if "\x01" in addr:
            raise HeaderInjection(
                f"header {name}: the address {unmask(addr)!r} must be written out; "
                f"a template may fill only the display name ({_EXAMPLE})"
            )
        try:
            wire = smtp_address(addr).text
        except InvalidAddress as exc:
            raise HeaderInjection(f"header {name}: {exc}") from None
        mailboxes.append(Mailbox(unmask(display), wire))
    return tuple(mailboxes)


def _split_commas(name: str, text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    if quoted:
        raise HeaderInjection(f"header {name}: a double quote is never closed")
    parts.append("".join(current).strip())
    if not all(parts):
        raise HeaderInjection(f"header {name}: an empty entry in the address list ({_EXAMPLE})")
    return parts


def _display_and_address(name: str, part: str) -> tuple[str, str]:
    """(display template, bare address) of one masked mailbox."""
    if not part.endswith(">"):
        return "", part
    start = part.rfind("<")
    if start < 0:
        raise HeaderInjection(f"header {name}: {part!r} has a '>' without '<'")
    display, addr = part[:start].strip(), part[start + 1 : -1].strip()
    if len(display) >= 2 and display.startswith('"') and display.endswith('"'):
        display = re.sub(r"\\(.)", r"\1", display[1:-1])
    elif any(c in display for c in '"<>'):
        raise HeaderInjection(
            f"header {name}: put a display name with quotes or angle brackets in double quotes"
        )
    return display, addr


def render_source(mailboxes: Sequence[Mailbox]) -> str:
    """The one template the renderer renders for this header: the display names, joined."""
    return SEPARATOR.join(m.display for m in mailboxes)


def displays(name: str, rendered: str, count: int) -> list[str]:
    """The rendered display names of a header; TemplateError if they cannot be told apart."""
    names = rendered.split(SEPARATOR)
    if len(names) != count:
        raise TemplateError(f"header {name}: the rendered display names could not be separated")
    return names
