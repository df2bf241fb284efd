"""Pure checks for settings that reach a header, a URL or the wire, and for secrets in a file."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

# RFC 3986 characters; anything else (space, control, quotes, <>, non-ASCII) has no place in a
# URL that goes into a List-Unsubscribe header between angle brackets.
_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
#: A header field name (RFC 5322 ftext), at most 76 characters so a line can hold it.
FIELD_NAME = re.compile(r"^[!-9;-~]{1,76}$")


def check_one_line(value: str) -> str:
    """Refuse a control character (CR, LF, NUL, DEL, C1) or a line/paragraph separator."""
    if any(not c.isprintable() and c != " " for c in value):
        raise ValueError("must not contain a line break or another control character")
    return value


def is_field_name(name: str) -> bool:
    """A header field name: 1-76 printable ASCII characters without ':'."""
    return FIELD_NAME.match(name) is not None


def check_root_url(value: str) -> str:
    """An http(s) URL of a host and an optional path; no user, query or fragment."""
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("must not contain whitespace, line breaks or control characters")
    if not value.isascii():
        raise ValueError("must be ASCII: write an international domain in its xn-- form")
    bad = next((c for c in value if not _URL_CHARS.match(c)), None)
    if bad is not None:
        raise ValueError(f"contains {bad!r}, a character not allowed in a URL")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not value.lower().startswith(
        f"{parts.scheme.lower()}://"
    ):
        raise ValueError("must be an http:// or https:// URL")
    if "@" in parts.netloc:
        raise ValueError("must not contain a user name or password (user@host)")
    if "?" in value or "#" in value:
        raise ValueError("must not have a ?query or #fragment")
    host = parts.hostname or ""
    try:
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if not (_HOST_NAME.match(host) or _is_ip_literal(host, parts.netloc)):
        raise ValueError("must name a host, as in https://news.example.com")
    return value.rstrip("/")


def _is_ip_literal(host: str, netloc: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 or netloc.startswith("[")


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (also as [::1] or ::ffff:127.x.x.x)."""
    name = host.strip().rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


_SECRET_KEY = re.compile(r"(?:^|_)(?:password|secrets?)$")


def secrets_in(tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Keys of a raw settings tree (as read from a file) holding a secret inline: any set
    *password / *secret(s) key, and db.url with a password in it."""
    found: list[str] = []
    for name, value in tree.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(value, Mapping):
            found += secrets_in(value, key)
        elif isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    found += secrets_in(item, f"{key}[{i}]")
        elif (value and _SECRET_KEY.search(str(name))) or (
            key == "db.url" and isinstance(value, str) and _url_password(value)
        ):
            found.append(key)
    return found


def _url_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return "@" in url
