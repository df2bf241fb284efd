"""Credentials out of SMTP text: AUTH arguments, base64 forms of the login, the password."""

from __future__ import annotations

import base64

import pytest

from campaignd.messengers.redact import REDACTED, credential_redactor

USER, PASSWORD = "acme/production", "very-secret-credential-42"
redact = credential_redactor(USER, PASSWORD)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


PLAIN = b64(f"\0{USER}\0{PASSWORD}".encode())


@pytest.mark.parametrize(
    "text",
    [
        f"535 5.7.8 rejected: AUTH PLAIN {PLAIN}",
        f"535 rejected auth plain {PLAIN.rstrip('=')}",
        f"535 you sent {b64(USER.encode())} and {b64(PASSWORD.encode())}",
        f"535 {b64(f'{USER} 0123456789abcdef'.encode())}",  # a CRAM-MD5 response
        f"535 {b64(f'x{PASSWORD}y'.encode())}",  # inside a longer base64 word
        f"535 password {PASSWORD} is wrong",
        f"535 AUTH XOAUTH2 {b64(b'user=someone')}",  # any AUTH argument, whatever it holds
    ],
)
def test_credentials_are_redacted(text: str) -> None:
    out = redact(text)
    assert REDACTED in out
    for form in (PASSWORD, PLAIN.rstrip("="), b64(PASSWORD.encode()).rstrip("=")):
        assert form not in out
    assert b64(USER.encode()).rstrip("=") not in out


@pytest.mark.parametrize(
    "text",
    [
        "250 smtp.test; extensions: 8BITMIME AUTH ENHANCEDSTATUSCODES PIPELINING SIZE",
        "250-AUTH PLAIN LOGIN CRAM-MD5",
        "the server does not offer AUTH PLAIN (it offers LOGIN CRAM-MD5)",
        "LOGIN as acme/production: 235 2.7.0 Authentication successful",
        "535 5.7.8 Authentication credentials invalid",
        "news@example.org -> you@example.net: 250 2.0.0 OK queued",
    ],
)
def test_ordinary_text_is_kept(text: str) -> None:
    assert redact(text) == text


def test_no_credentials_nothing_to_redact() -> None:
    assert credential_redactor("", "")("AUTH PLAIN AGEAYg==") == "AUTH PLAIN AGEAYg=="
