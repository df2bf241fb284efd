"""Signed tokens for unsubscribe, opt-in, preference, archive links (HMAC-SHA256, URL-safe).

A token is the URL-safe base64 (no padding) of one of::

    1 | subscriber uuid (16) | tag (16)                          (unsubscribe: every list)
    2 | subscriber uuid (16) | campaign uuid (16) | tag (16)     (unsubscribe: its lists)
    3 | subscriber uuid (16) | n (1) | n list ids | tag (16)     (opt-in: confirms these lists)

where list ids are ascending unsigned LEB128 varints and ``tag`` is HMAC-SHA256 over the
preceding bytes, truncated to 128 bits, keyed with a key derived from the configured secret *per
purpose* (an unsubscribe token is not an opt-in token). Verification is constant-time and accepts
only the canonical encoding of one layout, so there is nothing to pad, trim or re-order. Tokens
carry no secret and do not expire: an unsubscribe link must keep working for as long as the mail
sits in an inbox. Verification accepts tokens signed with the current secret or one of the
previous ones (security.previous_secrets), so the secret can be rotated; signing always uses the
current one. The "verp" purpose's key signs the shorter, case-insensitive tokens of VERP
addresses (campaignd.rendering.verp) through ``Signer.tag``, and the "track" purpose's key the
open and click tokens of campaignd.rendering.tracking.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from campaignd.errors import InvalidInput, InvalidToken

#: "manage" signs preference-page links (layout 1), "archive" links to a campaign's web view
#: with the subscriber's own data (layout 2); "track" signs open and click links; "session"
#: the dashboard's session cookies and CSRF tokens (campaignd.dashboard.session, via ``tag``).
PURPOSES = frozenset({"unsub", "optin", "verp", "manage", "archive", "track", "session"})

_KIND_SUBSCRIBER = 1
_KIND_CAMPAIGN = 2
_KIND_LISTS = 3
_TAG_LEN = 16
_LEN = {_KIND_SUBSCRIBER: 1 + 16 + _TAG_LEN, _KIND_CAMPAIGN: 1 + 32 + _TAG_LEN}
#: An opt-in token names at most this many lists (its count is one byte).
MAX_LISTS = 255
_ALPHABET = re.compile(r"^[A-Za-z0-9_-]{40,3200}$")
_BLOCK = hashlib.sha256().block_size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


@dataclass(frozen=True, slots=True)
class TokenData:
    purpose: str
    subscriber_uuid: uuid.UUID
    campaign_uuid: uuid.UUID | None
    #: The lists an opt-in token confirms; None for a token that names none (layouts 1 and 2).
    list_ids: tuple[int, ...] | None = None


class Signer:
    """Signs and verifies tokens of one purpose; build once, call per message."""

    __slots__ = ("_inner", "_outer", "purpose")

    def __init__(self, secret: str, purpose: str) -> None:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        if not secret:
            raise InvalidInput("a signing secret is required")
        self.purpose = purpose
        key = hmac.new(
            secret.encode("utf-8"), b"campaignd token v1 " + purpose.encode(), hashlib.sha256
        ).digest()
        # HMAC-SHA256 (RFC 2104) with the padded key hashed once: per token two hash copies
        # instead of the hmac module's Python-level object copy (about half the time).
        block = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._outer = hashlib.sha256(block.translate(_OPAD))

    def tag(self, payload: bytes) -> bytes:
        """The 128-bit tag of any payload under this purpose's key (campaignd.rendering.verp
        packs its own, case-insensitive tokens around it)."""
        return self._tag(payload)

    def _tag(self, payload: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:_TAG_LEN]

    def sign(self, subscriber_uuid: uuid.UUID, campaign_uuid: uuid.UUID | None = None) -> str:
        if campaign_uuid is None:
            payload = bytes((_KIND_SUBSCRIBER,)) + subscriber_uuid.bytes
        else:
            payload = bytes((_KIND_CAMPAIGN,)) + subscriber_uuid.bytes + campaign_uuid.bytes
        return _encode(payload + self._tag(payload))

    def sign_lists(self, subscriber_uuid: uuid.UUID, list_ids: Iterable[int]) -> str:
        """A token naming these lists (an opt-in link confirms only them)."""
        payload = _lists_payload(subscriber_uuid, tuple(sorted(set(list_ids))))
        return _encode(payload + self._tag(payload))

    def verify(self, token: str) -> TokenData:
        if not isinstance(token, str) or not _ALPHABET.match(token):
            raise InvalidToken()
        text = token.encode("ascii").translate(_FROM_URLSAFE)
        try:
            raw = binascii.a2b_base64(text + b"=" * (-len(text) % 4), strict_mode=True)
        except (binascii.Error, ValueError):
            raise InvalidToken() from None
        return self._check(token, raw)

    def _check(self, token: str, raw: bytes) -> TokenData:
        kind = raw[0] if raw else 0
        lists: tuple[int, ...] | None = None
        if kind == _KIND_LISTS:
            lists = _parse_lists(raw[:-_TAG_LEN]) if len(raw) >= 18 + _TAG_LEN else None
            if lists is None:
                raise InvalidToken()
        elif _LEN.get(kind) != len(raw):
            raise InvalidToken()
        payload, tag = raw[:-_TAG_LEN], raw[-_TAG_LEN:]
        if not hmac.compare_digest(tag, self._tag(payload)):
            raise InvalidToken()
        if _encode(raw) != token:  # a non-canonical spelling (stray bits in the last character)
            raise InvalidToken()
        return TokenData(self.purpose, uuid.UUID(bytes=payload[1:17]), _campaign(payload), lists)


def _lists_payload(subscriber_uuid: uuid.UUID, list_ids: tuple[int, ...]) -> bytes:
    if len(list_ids) > MAX_LISTS:
        raise InvalidInput(f"an opt-in link names at most {MAX_LISTS} lists")
    out = bytearray((_KIND_LISTS,))
    out += subscriber_uuid.bytes
    out.append(len(list_ids))
    for value in list_ids:
        if value < 0 or value >= 1 << 63:
            raise InvalidInput(f"list id {value} cannot be put in a link")
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                break
    return bytes(out)


def _parse_lists(payload: bytes) -> tuple[int, ...] | None:
    """The list ids of a layout 3 payload, or None unless it is exactly canonical."""
    count, pos, out = payload[17], 18, []
    for _ in range(count):
        value = shift = 0
        while True:
            if pos >= len(payload) or shift > 63:
                return None
            byte = payload[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if value >= 1 << 63:
            return None
        out.append(value)
    lists = tuple(out)
    if (
        pos != len(payload)
        or lists != tuple(sorted(set(lists)))
        or _lists_payload(uuid.UUID(bytes=payload[1:17]), lists) != payload
    ):
        return None  # trailing bytes, padded varints, or ids not ascending and unique
    return lists


def _encode(raw: bytes) -> str:
    text = binascii.b2a_base64(raw, newline=False).rstrip(b"=")
    return text.translate(_TO_URLSAFE).decode("ascii")


def _campaign(payload: bytes) -> uuid.UUID | None:
    return uuid.UUID(bytes=payload[17:33]) if payload[0] == _KIND_CAMPAIGN else None


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


@lru_cache(maxsize=16)
def _signer(secret: str, purpose: str) -> Signer:
    return Signer(secret, purpose)


def sign(
    secret: str, purpose: str, subscriber_uuid: uuid.UUID, campaign_uuid: uuid.UUID | None = None
) -> str:
    """A token for `purpose` ("unsub" or "optin") naming the subscriber and maybe a campaign."""
    return _signer(secret, purpose).sign(subscriber_uuid, campaign_uuid)


def sign_lists(
    secret: str, purpose: str, subscriber_uuid: uuid.UUID, list_ids: Iterable[int]
) -> str:
    """A token for `purpose` naming the subscriber and these lists (opt-in links)."""
    return _signer(secret, purpose).sign_lists(subscriber_uuid, list_ids)


def verify(secret: str, purpose: str, token: str, previous: Sequence[str] = ()) -> TokenData:
    """The data in `token`; raise InvalidToken unless it was signed for `purpose` with `secret`
    or one of the `previous` secrets (kept, verify-only, while a rotation settles)."""
    try:
        return _signer(secret, purpose).verify(token)
    except InvalidToken:
        for old in previous:
            try:
                return _signer(old, purpose).verify(token)
            except InvalidToken:
                continue
        raise
