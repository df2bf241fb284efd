"""Fast MIME building blocks: header lines (RFC 5322/2047, folded, injection-proof) and bodies.

Everything returns ``str`` header lines ending in CRLF or ``bytes`` bodies with CRLF line ends;
compose joins them. Rules:

- Data-derived text (subject, names, rendered header values) goes through ``sanitize``: every
  control character (C0, DEL, C1), line/paragraph separator and lone surrogate becomes a space,
  so no data can start a new header line or the body.
- Operator-given header names must be field names (printable ASCII without ":"); operator-given
  values with CR, LF, NUL or another control character are refused with HeaderInjection.
- Non-ASCII text, and ASCII text that looks like an encoded word ("=?"), is sent as RFC 2047
  base64 encoded words of at most 75 characters, split between characters, never inside one.
  Lines are folded at 78 characters where there is whitespace; a line that cannot be kept under
  998 octets is refused.
- Bodies are quoted-printable when mostly ASCII, else base64; both give lines of at most 76.
  ``BodyEncoder`` gives the same bytes faster for many messages sharing most of their lines.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from email.utils import parseaddr

from campaignd.addresses import smtp_address
from campaignd.config.checks import FIELD_NAME as _FIELD_NAME
from campaignd.errors import HeaderInjection, InvalidAddress, TemplateError

SOFT_LIMIT = 78
HARD_LIMIT = 998

_CONTROL = dict.fromkeys((*range(32), *range(127, 160), 8232, 8233), " ")
_CONTROL.update(dict.fromkeys(range(55296, 57344), "�"))
_ATOM_PHRASE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*$")


def sanitize(text: str) -> str:
    """Data for a header: control characters and line breaks become spaces."""
    return text if text.isprintable() else text.translate(_CONTROL)


def check_header_name(name: str) -> None:
    if not _FIELD_NAME.match(name):
        raise HeaderInjection(
            f"header {name!r}: a header name is 1-76 printable ASCII characters without ':'"
        )


def check_header_value(name: str, value: str) -> None:
    """Refuse an operator-given value that would add a header line or body."""
    spaced = value.replace("\t", " ")
    if sanitize(spaced) != spaced:
        raise HeaderInjection(
            f"header {name}: the value contains a line break or another control character"
        )


def _needs_encoding(text: str) -> bool:
    return not text.isascii() or "=?" in text


def encoded_words(text: str, first_room: int) -> list[str]:
    """RFC 2047 base64 words for `text`; the first fits in `first_room` characters."""
    limit = max(3, (first_room - 12) // 4 * 3)
    if len(text) * 4 <= limit or len(text.encode("utf-8", "surrogatepass")) <= limit:
        return [_word(text)]  # fits in the first word (most names and subjects)
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for ch in text:
        n = 1 if ch < "\x80" else 2 if ch < "\u0800" else 3 if ch < "\U00010000" else 4
        if size + n > limit and chunk:
            words.append(_word("".join(chunk)))
            chunk, size, limit = [], 0, 45
        chunk.append(ch)
        size += n
    if chunk or not words:
        words.append(_word("".join(chunk)))
    return words


def _word(text: str) -> str:
    data = binascii.b2a_base64(text.encode("utf-8", "replace"), newline=False)
    return f"=?utf-8?b?{data.decode('ascii')}?="


def fold(name: str, value: str) -> str:
    """``Name: value`` CRLF, folded at spaces to 78 characters where possible."""
    line = f"{name}: {value}\r\n"
    if len(line) <= SOFT_LIMIT + 2:
        return line
    out: list[str] = []
    rest = f"{name}: {value}"
    while len(rest) > SOFT_LIMIT:
        cut = rest.rfind(" ", 1, SOFT_LIMIT + 1)
        while cut > 0 and not rest[:cut].strip(" "):
            cut = -1
        if cut <= len(name) + 1:
            cut = rest.find(" ", SOFT_LIMIT + 1)
            if cut < 0 or not rest[:cut].strip(" "):
                break
        out.append(rest[:cut])
        rest = rest[cut:]
    out.append(rest)
    if any(len(part) > HARD_LIMIT for part in out):
        raise TemplateError(f"header {name}: a word is too long for a header line")
    return "\r\n".join(out) + "\r\n"


def _fold_words(name: str, words: list[str], tail: str = "") -> str:
    return f"{name}: " + "\r\n ".join(words) + tail + "\r\n"


def unstructured(name: str, value: str) -> str:
    """A header line for free text (Subject, X-...), sanitized and encoded when needed."""
    value = sanitize(value)
    if not _needs_encoding(value):
        try:
            return fold(name, value)
        except TemplateError:
            pass  # a word longer than a line: encoded words can be split anywhere
    return _fold_words(name, encoded_words(value, SOFT_LIMIT - len(name) - 2))


def check_address(address: str, what: str) -> str:
    """A bare address fit for a header and the envelope (its domain in IDNA form, a UTF-8 local
    part kept: campaignd.addresses.smtp_address), or TemplateError saying why not."""
    try:
        return smtp_address(address).text
    except InvalidAddress as exc:
        raise TemplateError(f"{what}: {address!r} is not a usable email address ({exc})") from None


def address(name: str, display: str, addr: str) -> str:
    """``Name: Display <addr>`` CRLF with the display name quoted or encoded as needed."""
    display = " ".join(sanitize(display).split())
    if not display:
        return f"{name}: {addr}\r\n"
    if _needs_encoding(display) or len(display) > 60:
        words = encoded_words(display, SOFT_LIMIT - len(name) - 2)
        return _fold_words(name, words, f"\r\n <{addr}>")
    if not _ATOM_PHRASE.match(display):
        display = '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return fold(name, f"{display} <{addr}>")


def parse_mailbox(value: str, what: str) -> tuple[str, str]:
    """(display name, bare address) of an operator-given mailbox such as ``News <n@x.org>``."""
    if not value.isprintable():
        raise HeaderInjection(f"{what}: contains a line break or another control character")
    display, addr = parseaddr(value)
    return display, check_address(addr, what)


def mailbox_list(name: str, mailboxes: Sequence[tuple[str, str]]) -> str:
    """``Name: a <x@y>, b <z@y>`` CRLF from (display name, bare address) pairs: each display
    name quoted or encoded by `address`, so none can add or change an address."""
    parts = [address("X", display, addr)[3:-2] for display, addr in mailboxes]
    return f"{name}: " + ",\r\n ".join(parts) + "\r\n"


# -- bodies

_NOT_7BIT = bytes((*range(0x09), *range(0x0B, 0x20), 0x7F))
QP_LINE = 76


def _qp_fix(encoded: bytes) -> bytes:
    """binascii encodes a line's trailing space or tab as "=20"/"=09" after placing it, which
    can make that output line 77 characters long: move the escape to a line of its own."""
    lines = encoded.split(b"\r\n")
    for i, line in enumerate(lines):
        if len(line) > QP_LINE:
            lines[i] = line[:-3] + b"=\r\n" + line[-3:]
    return b"\r\n".join(lines)


def quoted_printable(data: bytes) -> bytes:
    """RFC 2045 quoted-printable of CRLF-terminated text, lines of at most 76 characters."""
    encoded: bytes = binascii.b2a_qp(data, istext=True)  # keeps CRLF line ends as they are
    if b" \r\n" in data or b"\t\r\n" in data:
        return _qp_fix(encoded)
    return encoded


def base64_lines(data: bytes) -> bytes:
    encoded = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def _encoding(text: str) -> tuple[str, str, bytes]:
    """(Content-Transfer-Encoding, the text with LF line ends ending in one, its UTF-8)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    raw = text.encode("utf-8", "replace")
    if (
        raw.isascii()
        and len(raw.translate(None, _NOT_7BIT)) == len(raw)
        and max(map(len, raw.split(b"\n"))) <= 996
    ):
        return "7bit", text, raw
    extra = len(raw) - len(text)  # bytes beyond one per character: roughly the non-ASCII share
    if extra * 6 <= len(raw):
        return "quoted-printable", text, raw
    return "base64", text, raw


def encode_body(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, encoded body ending in CRLF) for a text/* part."""
    cte, text, raw = _encoding(text)
    data = raw.replace(b"\n", b"\r\n")
    if cte == "7bit":
        return cte, data
    if cte == "quoted-printable":
        return cte, quoted_printable(data)
    return cte, base64_lines(data) + b"\r\n"


def _qp_line(line: str) -> bytes:
    """Quoted-printable of one line and its CRLF. A printable ASCII line without "=" or a
    trailing space only needs soft breaks every 75 characters (what binascii does, faster)."""
    if (
        line.isascii()
        and line.isprintable()
        and "=" not in line
        and not line.endswith(" ")
        and line != "."  # binascii writes a lone dot as =2E
    ):
        if len(line) > 75:
            line = "=\r\n".join([line[i : i + 75] for i in range(0, len(line), 75)])
        return (line + "\r\n").encode("ascii")
    return quoted_printable(line.encode("utf-8", "replace") + b"\r\n")


class BodyEncoder:
    """``encode_body`` for the many messages of one campaign, same bytes: quoted-printable is
    line by line (a line's encoding depends on that line alone), so the lines every recipient
    shares are encoded once and looked up after that."""

    def __init__(self, max_lines: int = 2048, max_chars: int = 1_000_000) -> None:
        self._lines: dict[str, bytes] = {}
        self._chars = 0
        self._max_lines = max_lines
        self._max_chars = max_chars

    def encode(self, text: str) -> tuple[str, bytes]:
        cte, text, raw = _encoding(text)
        if cte != "quoted-printable":
            data = raw.replace(b"\n", b"\r\n")
            return cte, data if cte == "7bit" else base64_lines(data) + b"\r\n"
        lines = text.split("\n")
        lines.pop()  # the text ends with a line end
        get, miss = self._lines.get, self._miss
        return cte, b"".join([get(line) or miss(line) for line in lines])  # never b""

    def _miss(self, line: str) -> bytes:
        encoded = _qp_line(line)
        if self._chars + len(line) > self._max_chars or len(self._lines) >= self._max_lines:
            self._lines.clear()  # personalised lines come and go: start over now and then
            self._chars = 0
        self._lines[line] = encoded
        self._chars += len(line)
        return encoded
