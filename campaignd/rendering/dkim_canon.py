"""DKIM relaxed canonicalisation (RFC 6376 3.4.2 and 3.4.4), shared by the signer
(rendering/dkim.py) and the checker (rendering/dkim_check.py); pure bytes in, bytes out.
Tested against dkimpy's own canonicalisation in tests/unit/test_dkim.py."""

from __future__ import annotations

import re

_SPACES = re.compile(rb"  +")


def _collapse(text: bytes) -> bytes:
    """Every run of spaces and tabs as one space. Tabs are rare, and a pattern that starts
    with two literal spaces is found by a fast search: a tenth of the cost of [ \\t]+."""
    if b"\t" in text:
        text = text.replace(b"\t", b" ")
    return _SPACES.sub(b" ", text)


def relaxed_header(name: bytes, field: bytes) -> bytes:
    """RFC 6376 3.4.2 (`name` lowercased): value unfolded, runs of WSP one space, ends trimmed.
    Header values are short: a test before each step costs less than the step."""
    value = field[field.find(b":") + 1 :]
    if b"\r\n" in value:
        value = value.replace(b"\r\n", b"")
    if b"\t" in value:
        value = value.replace(b"\t", b" ")
    if b"  " in value:
        value = _SPACES.sub(b" ", value)
    return name + b":" + value.strip(b" ") + b"\r\n"


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4 on a CRLF body: runs of WSP one space, none at line ends, no empty lines
    at the end, a final CRLF unless empty."""
    body = _collapse(body)
    if b" \r\n" in body:
        body = body.replace(b" \r\n", b"\r\n")
    body = body.rstrip(b" \r\n")  # only SP and CRLF pairs: trailing spaces and empty lines
    return body + b"\r\n" if body else b""
