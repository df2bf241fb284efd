"""Credentials out of SMTP text: a server may echo the AUTH line (base64 of them) in a reply."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

REDACTED = "[redacted]"
# "AUTH PLAIN <initial response>" / "AUTH LOGIN <user>": the base64 word after the mechanism
# (not a list of mechanisms, as in "AUTH PLAIN LOGIN").
_MECHANISM = r"(?:PLAIN|LOGIN|CRAM-MD5|DIGEST-MD5|XOAUTH2|OAUTHBEARER|EXTERNAL|SCRAM-[\w-]+)"
_AUTH_ARGS = re.compile(rf"(?i)\b(AUTH[ \t]+{_MECHANISM}[ \t]+)(?!{_MECHANISM}\b)[A-Za-z0-9+/=]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{4,}={0,2}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def credential_redactor(username: str, password: str) -> Callable[[str], str]:
    """A function that removes, from any text, the AUTH command's arguments, base64 forms of
    the username and password (alone, as PLAIN's "\\0user\\0password", or inside any base64
    word that decodes to text containing them) and the password itself."""
    user_b = username.encode("utf-8")
    pass_b = password.encode("utf-8")
    secrets = [s for s in (user_b, pass_b) if s]
    forms = {_b64(s) for s in secrets} | ({password} if password else set())
    if secrets:
        forms |= {_b64(b"\0" + user_b + b"\0" + pass_b), _b64(user_b + b"\0" + pass_b)}
    literals = sorted(forms, key=len, reverse=True)

    def decoded_secret(match: re.Match[str]) -> str:
        word = match.group(0)
        try:
            data = base64.b64decode(word + "=" * (-len(word.rstrip("=")) % 4), validate=False)
        except (binascii.Error, ValueError):
            return word
        return REDACTED if any(s in data for s in secrets) else word

    def redact(text: str) -> str:
        if not secrets:
            return text
        text = _AUTH_ARGS.sub(rf"\1{REDACTED}", text)
        text = _BASE64.sub(decoded_secret, text)
        for form in literals:
            text = text.replace(form, REDACTED)
        return text

    return redact
