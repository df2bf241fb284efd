"""VERP addresses: a signed, case-insensitive token naming campaign and subscriber in a local part.

With ``[bounces] return_path = "bounces@example.com"`` every message's envelope sender is
``bounces+<token>@example.com``, and the List-Unsubscribe mailto (``app.unsubscribe_mailto``)
becomes ``unsubscribe+<token>@...``. Both carry the same token, the lower-case RFC 4648 base32
(no padding) of::

    campaign id (4 bytes, big-endian) | subscriber uuid (16) | tag (10)

48 characters, where ``tag`` is HMAC-SHA256 over the first 20 bytes under the "verp" purpose
key of campaignd.rendering.tokens, truncated to 80 bits (a forger has one guess per SMTP
transaction). Base32 survives MTAs that lower- or upper-case local parts; a base address has
at most 15 characters before the "@" so that the local part stays within RFC 5321's 64.
One token serves both addresses: each only ever reaches the subscriber it names, who may
unsubscribe anyway.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

from campaignd.config import VERP_BASE, VERP_BASE_RULE
from campaignd.errors import InvalidInput, InvalidToken
from campaignd.rendering.tokens import Signer

TOKEN_LEN = 48
MAX_BASE_LOCAL = 64 - 1 - TOKEN_LEN
_TAG = 10
_TOKEN = re.compile(r"^[a-z2-7]{48}$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
# Two base32 characters per 10 bits: faster than base64.b32encode (pure Python in 3.11).
_PAIRS = [_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024)]
_SHIFTS = tuple(range(230, -1, -10))


def _encode(raw: bytes) -> str:
    """Lower-case base32 of exactly 30 bytes (48 characters, no padding)."""
    n = int.from_bytes(raw, "big")
    return "".join([_PAIRS[(n >> s) & 1023] for s in _SHIFTS])


class Role(StrEnum):
    BOUNCE = "bounce"  # bounces+<token>: the envelope sender, DSNs come back here
    UNSUBSCRIBE = "unsubscribe"  # unsubscribe+<token>: the List-Unsubscribe mailto


@dataclass(frozen=True, slots=True)
class VerpTarget:
    """A verified VERP address: what it is for and whom it names."""

    role: Role
    campaign_id: int
    subscriber_uuid: uuid.UUID
    address: str


def check_base(address: str, what: str) -> tuple[str, str]:
    """(local part, domain) of a base address such as ``bounces@example.com``; raise
    InvalidInput naming `what` when it cannot carry a token."""
    if not VERP_BASE.match(address):
        raise InvalidInput(f"{what}: {address!r} {VERP_BASE_RULE}")
    local, _, domain = address.rpartition("@")
    return local, domain


class VerpCodec:
    """Makes and reads VERP tokens and addresses; build once (per campaign: `for_campaign`)."""

    __slots__ = ("_bases", "_signer")

    def __init__(self, secret: str, return_path: str = "", unsubscribe: str = "") -> None:
        self._signer = Signer(secret, "verp")
        self._bases: dict[tuple[str, str], Role] = {}
        for role, base, what in (
            (Role.BOUNCE, return_path, "bounces.return_path"),
            (Role.UNSUBSCRIBE, unsubscribe, "app.unsubscribe_mailto"),
        ):
            if base:
                local, domain = check_base(base, what)
                self._bases[(local.lower(), domain.lower())] = role

    def token(self, campaign_id: int, subscriber_uuid: uuid.UUID) -> str:
        payload = campaign_id.to_bytes(4, "big") + subscriber_uuid.bytes
        return _encode(payload + self._signer.tag(payload)[:_TAG])

    def verify(self, token: str) -> tuple[int, uuid.UUID]:
        """(campaign id, subscriber uuid) from a token in any letter case; raise InvalidToken."""
        token = token.lower()
        if not _TOKEN.match(token):
            raise InvalidToken()
        try:
            raw = base64.b32decode(token.upper())
        except (binascii.Error, ValueError):
            raise InvalidToken() from None
        payload, tag = raw[:-_TAG], raw[-_TAG:]
        if not hmac.compare_digest(tag, self._signer.tag(payload)[:_TAG]):
            raise InvalidToken()
        return int.from_bytes(payload[:4], "big"), uuid.UUID(bytes=payload[4:])

    def parse(self, address: str) -> VerpTarget | None:
        """The verified target of an envelope recipient, or None: not one of our base
        addresses with a token, another domain, or a token we did not sign."""
        local, at, domain = address.strip().rpartition("@")
        base, plus, token = local.partition("+")
        if not at or not plus:
            return None
        role = self._bases.get((base.lower(), domain.lower()))
        if role is None:
            return None
        try:
            campaign_id, subscriber_uuid = self.verify(token)
        except InvalidToken:
            return None
        return VerpTarget(role, campaign_id, subscriber_uuid, address)

    def for_campaign(self, campaign_id: int, return_path: str, unsubscribe: str) -> CampaignVerp:
        return CampaignVerp(self._signer, campaign_id, return_path, unsubscribe)


class CampaignVerp:
    """One campaign's VERP addresses: the fixed parts built once, one HMAC per recipient."""

    __slots__ = ("_bounce", "_domain", "_last", "_prefix", "_signer", "_unsub", "_unsub_domain")

    def __init__(self, signer: Signer, campaign_id: int, return_path: str, unsubscribe: str):
        self._signer = signer
        self._prefix = campaign_id.to_bytes(4, "big")
        local, domain = check_base(return_path, "bounces.return_path")
        self._bounce = f"{local}+"
        self._domain = f"@{domain}"
        self._unsub = ""
        self._unsub_domain = ""
        if unsubscribe:
            local, domain = check_base(unsubscribe, "app.unsubscribe_mailto")
            self._unsub, self._unsub_domain = f"{local}+", f"@{domain}"
        self._last: tuple[uuid.UUID, str] | None = None

    def token(self, subscriber_uuid: uuid.UUID) -> str:
        last = self._last
        if last is not None and last[0] == subscriber_uuid:
            return last[1]  # build() and then the envelope sender of the same recipient
        payload = self._prefix + subscriber_uuid.bytes
        token = _encode(payload + self._signer.tag(payload)[:_TAG])
        self._last = (subscriber_uuid, token)
        return token

    def bounce_address(self, subscriber_uuid: uuid.UUID) -> str:
        return f"{self._bounce}{self.token(subscriber_uuid)}{self._domain}"

    def unsubscribe_address(self, subscriber_uuid: uuid.UUID) -> str | None:
        if not self._unsub:
            return None
        return f"{self._unsub}{self.token(subscriber_uuid)}{self._unsub_domain}"
