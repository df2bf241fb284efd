"""Reading inbound mail within bounds: MIME parts, RFC 3464 / RFC 5965 report fields, the
original message's headers and a bounce's plain text. Pure; the caller catches parse failures.

Everything here is capped (bytes parsed, parts visited, headers and characters read), so the
work done for one hostile message is bounded whatever it contains.
"""

from __future__ import annotations

import email.parser
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32

from campaignd.bounces.inbound import Fields

#: Only this much of a message is parsed; a report's fields come before the attached original.
MAX_BYTES = 256 * 1024
#: MIME parts visited per message (nested ones included).
MAX_PARTS = 64
#: Header fields read per block, and characters kept per value.
MAX_FIELDS = 200
MAX_VALUE = 1000
#: Characters of decoded body text scanned by the plain-text heuristics.
MAX_TEXT = 32 * 1024
#: Per-recipient blocks read from one delivery-status report.
MAX_RECIPIENTS = 50


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]+")
_FOLD = re.compile(r"\r?\n[ \t]*")
_TAG = re.compile(r"<[^<>]{0,2000}>")
_TYPED = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9-]{0,30}\s*;\s*")
_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+"
)

DELIVERY_STATUS = frozenset({"message/delivery-status", "message/global-delivery-status"})
ORIGINAL = frozenset({"message/rfc822", "message/global"})
ORIGINAL_HEADERS = frozenset({"text/rfc822-headers", "message/global-headers"})


def parse(raw: bytes) -> Message:
    """The message, from at most MAX_BYTES of it (compat32: raw values, lenient on defects)."""
    return email.parser.BytesParser(policy=compat32).parsebytes(raw[:MAX_BYTES])


def clean(value: object, limit: int = MAX_VALUE) -> str:
    """A header value as one line of text: unfolded, control characters gone, capped."""
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:  # a Header object with undecodable bytes
            return ""
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = _CONTROL.sub(" ", _FOLD.sub(" ", text[: limit * 2]))
    return text.strip()[:limit]


def fields(msg: Message) -> Fields:
    """The header fields of `msg` (the first MAX_FIELDS), names lower-cased, values cleaned."""
    out = []
    for name, value in msg.raw_items():
        out.append((clean(name, 100).lower(), clean(value)))
        if len(out) >= MAX_FIELDS:
            break
    return tuple(out)


def first(block: Fields, name: str) -> str | None:
    """The first value of field `name` (lower-case) in `block`, or None."""
    for key, value in block:
        if key == name:
            return value
    return None


def decoded(value: str) -> str:
    """An unstructured value with RFC 2047 encoded words decoded (best effort)."""
    try:
        return clean(str(make_header(decode_header(value))))
    except Exception:  # malformed encoded words or unknown charsets: keep the raw text
        return value


def content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    return clean(value, 100).lower() if isinstance(value, str) else ""


def walk(msg: Message) -> Iterator[Message]:
    """The message and its parts, depth first, at most MAX_PARTS (no recursion).

    Only multipart/* is entered: a message/* part (an attached original, a report's field
    blocks) is yielded as one part.
    """
    stack = [msg]
    seen = 0
    while stack and seen < MAX_PARTS:
        part = stack.pop()
        seen += 1
        yield part
        payload = part.get_payload()
        if isinstance(payload, list) and content_type(part).startswith("multipart/"):
            stack.extend(reversed([p for p in payload[:MAX_PARTS] if isinstance(p, Message)]))


def blocks(part: Message) -> list[Fields]:
    """The field blocks of a message/delivery-status or message/feedback-report part.

    compat32 parses such a body into one Message per block; a part sent with another
    transfer encoding arrives as text and is split here by blank lines.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        return [fields(p) for p in payload[: MAX_RECIPIENTS + 1] if isinstance(p, Message)]
    text = body_text(part)
    out = []
    for chunk in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))[: MAX_RECIPIENTS + 1]:
        if chunk.strip():
            out.append(fields(email.parser.HeaderParser(policy=compat32).parsestr(chunk)))
    return out


def body_text(part: Message) -> str:
    """A leaf part's body decoded to text (its charset, else UTF-8, errors replaced), capped."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload[:MAX_TEXT] if isinstance(payload, str) else ""
    data = data[: MAX_TEXT * 4]
    try:
        charset = part.get_content_charset() or "utf-8"
        text = data.decode(charset, "replace")
    except (LookupError, ValueError, TypeError):
        text = data.decode("utf-8", "replace")
    return text[:MAX_TEXT]


def original_fields(part: Message) -> Fields:
    """The original message's header fields from a message/rfc822 or text/rfc822-headers part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        inner = next((p for p in payload if isinstance(p, Message)), None)
        return fields(inner) if inner is not None else ()
    return headers_in_text(body_text(part))


def headers_in_text(text: str) -> Fields:
    """Header fields at the start of `text` (a quoted original), up to the first blank line."""
    head = re.split(r"\r?\n[ \t]*\r?\n", text.lstrip("\r\n"), maxsplit=1)[0]
    if ":" not in head.split("\n", 1)[0]:
        return ()
    return fields(email.parser.HeaderParser(policy=compat32).parsestr(head[:MAX_TEXT]))


def address(value: str | None) -> str | None:
    """The address in a recipient field ("rfc822; <a@b>", "<a@b>", "a@b"), else None."""
    if not value:
        return None
    text = _TYPED.sub("", value, count=1).strip().strip("<>").strip()
    if len(text) > 320 or "@" not in text or any(c.isspace() or c in '<>,;"' for c in text):
        found = _ADDRESS.search(value)
        return found.group(0) if found else None
    return text


def addresses_in(text: str) -> list[str]:
    """Every plausible address in `text`, in order of appearance (capped)."""
    return [m.group(0) for m in _ADDRESS.finditer(text[:MAX_TEXT])][:200]


def without_type(value: str) -> str:
    """A Diagnostic-Code without its type ("smtp; 550 ..." -> "550 ...")."""
    return _TYPED.sub("", value, count=1).strip()


@dataclass(frozen=True, slots=True)
class Report:
    """The machine-readable parts of a multipart/report (or of a mail carrying the same parts)."""

    kind: str  # "delivery-status", "feedback-report" or "" (no report part)
    per_message: Fields
    per_recipient: tuple[Fields, ...]
    original: Fields  # the original message's headers, when attached
    text: str  # the human-readable parts, concatenated (capped)
    parts: tuple[str, ...]  # content types seen, for reasons and tests


def read(msg: Message) -> Report:
    """Collect report blocks, the attached original's headers and the readable text."""
    kind = ""
    per_message: Fields = ()
    per_recipient: list[Fields] = []
    original: Fields = ()
    texts: list[str] = []
    markup: list[str] = []
    types: list[str] = []
    size = 0
    for part in walk(msg):
        ctype = content_type(part)
        types.append(ctype)
        if ctype in DELIVERY_STATUS and not kind:
            found = blocks(part)
            kind = "delivery-status"
            per_message = found[0] if found else ()
            per_recipient = found[1 : MAX_RECIPIENTS + 1]
        elif ctype == "message/feedback-report" and not kind:
            found = blocks(part)
            kind = "feedback-report"
            per_message = tuple(f for block in found for f in block)[:MAX_FIELDS]
        elif (ctype in ORIGINAL or ctype in ORIGINAL_HEADERS) and not original:
            original = original_fields(part)
        elif ctype.startswith("text/") and size < MAX_TEXT:
            text = body_text(part)
            if ctype == "text/html":
                markup.append(html.unescape(_TAG.sub(" ", text)))
            else:
                texts.append(text)
            size += len(text)
    readable = "\n".join(texts or markup)[:MAX_TEXT]
    return Report(kind, per_message, tuple(per_recipient), original, readable, tuple(types))
