"""Server `email_headers`: checked when a messenger is built, merged under a message's own."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header as EncodedHeader

from campaignd.config import Header
from campaignd.errors import ConfigError

# RFC 5322 field name: printable US-ASCII except ":" (and so no space or control character).
_NAME = re.compile(r"^[!-9;-~]+$")
_MAX_LINE = 998


@dataclass(frozen=True, slots=True)
class ServerHeaders:
    """Header lines a server adds to every message that does not already carry that header."""

    names: tuple[bytes, ...] = ()  # lower-cased, each followed by b":"
    lines: tuple[bytes, ...] = ()  # complete lines, CRLF-terminated

    def __bool__(self) -> bool:
        return bool(self.lines)


def build_headers(headers: Sequence[Header], key: str) -> ServerHeaders:
    """Check names and values (no CR, LF, NUL; no ":" or space in names); raise ConfigError(key)."""
    names: list[bytes] = []
    lines: list[bytes] = []
    for header in headers:
        name, value = header.name, header.value
        if not _NAME.match(name):
            raise ConfigError(
                key, f"header name {name!r} must be printable ASCII without spaces or ':'"
            )
        if any(c in value for c in "\r\n\0"):
            raise ConfigError(key, f"the value of header {name} contains a line break or NUL")
        if value.isascii():
            if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
                raise ConfigError(key, f"the value of header {name} contains a control character")
            encoded = value
        else:
            encoded = EncodedHeader(value, "utf-8", header_name=name).encode()
            encoded = encoded.replace("\n", "\r\n")
        line = f"{name}: {encoded}\r\n".encode("ascii")
        if max(len(part) for part in line.split(b"\r\n")) > _MAX_LINE:
            raise ConfigError(key, f"header {name} is longer than {_MAX_LINE} characters")
        lowered = name.lower().encode("ascii") + b":"
        if lowered in names:
            raise ConfigError(key, f"header {name} is given twice")
        names.append(lowered)
        lines.append(line)
    return ServerHeaders(tuple(names), tuple(lines))


def merge_headers(message: bytes, headers: ServerHeaders) -> bytes:
    """Prepend the server's header lines that the message does not already have (it wins)."""
    if not headers:
        return message
    end = message.find(b"\r\n\r\n")
    head = (message if end < 0 else message[: end + 2]).lower()
    missing = [
        line
        for name, line in zip(headers.names, headers.lines, strict=True)
        if not head.startswith(name) and b"\r\n" + name not in head
    ]
    if not missing:
        return message
    return b"".join(missing) + message
