"""The dashboard's signed session cookie and CSRF tokens (HMAC under security.secret).

A session cookie is ``v1.<token id>.<expiry>.<nonce>.<tag>``: the tag (campaignd.rendering.tokens,
purpose "session") covers the id, the expiry, the nonce and the API token's stored hash, so a
revoked or re-created token ends its sessions, and nothing in the cookie is secret. The CSRF
token of a form is another tag over the session's nonce; the login form's over a nonce kept in
a short-lived cookie of its own.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import re
import secrets
from dataclasses import dataclass

from campaignd.rendering.tokens import Signer

SESSION_COOKIE = "campaignd_session"
LOGIN_COOKIE = "campaignd_login"
SESSION_LIFETIME = dt.timedelta(hours=12)
_COOKIE = re.compile(
    r"v1\.([1-9][0-9]{0,9})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})"
)
_NONCE = re.compile(r"[A-Za-z0-9_-]{22}")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_nonce() -> str:
    """128 random bits, URL-safe."""
    return _b64(secrets.token_bytes(16))


@dataclass(frozen=True, slots=True)
class Session:
    token_id: int
    expires: int  # Unix seconds
    nonce: str


class SessionSigner:
    """Builds and checks session cookies and CSRF tokens with one secret."""

    def __init__(self, secret: str) -> None:
        self._signer = Signer(secret, "session")

    def _tag(self, text: str) -> str:
        return _b64(self._signer.tag(text.encode("ascii")))

    def cookie(self, token_id: int, token_hash: str, now: dt.datetime) -> str:
        """A new session's cookie value for the API token `token_id`."""
        expires = int((now + SESSION_LIFETIME).timestamp())
        body = f"v1.{token_id}.{expires}.{new_nonce()}"
        return f"{body}.{self._tag(f'{body}.{token_hash}')}"

    @staticmethod
    def parse(value: str) -> Session | None:
        """The session a cookie names, unverified (its tag needs the token's hash), or None."""
        found = _COOKIE.fullmatch(value)
        if found is None:
            return None
        return Session(int(found[1]), int(found[2]), found[3])

    def verify(self, value: str, token_hash: str, now: dt.datetime) -> Session | None:
        """The session if `value` is a cookie this secret signed for that token, unexpired."""
        session = self.parse(value)
        if session is None:
            return None
        body, _, tag = value.rpartition(".")
        if not hmac.compare_digest(tag, self._tag(f"{body}.{token_hash}")):
            return None
        if session.expires <= now.timestamp():
            return None
        return session

    def csrf(self, nonce: str) -> str:
        """The CSRF token of the forms of the session (or login form) with this nonce."""
        return self._tag(f"csrf.{nonce}")

    def check_csrf(self, nonce: str | None, presented: str | None) -> bool:
        if not nonce or not presented or not _NONCE.fullmatch(nonce):
            return False
        return hmac.compare_digest(presented.encode("utf-8", "replace"), self.csrf(nonce).encode())
