"""API token use cases: create (the secret shown once, its SHA-256 kept), check, list, revoke."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from campaignd.domain import ApiToken
from campaignd.errors import InvalidInput, NotFound
from campaignd.store.tokens_protocol import ApiTokenStore

PREFIX = "cdk_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def token_hash(token: str) -> str:
    """The hex SHA-256 of a token: enough for 32 random bytes (no dictionary to attack)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


async def create_token(
    store: ApiTokenStore, name: str, *, read_only: bool, now: dt.datetime
) -> tuple[ApiToken, str]:
    """A new token named `name`; return it and its secret (never stored, shown once)."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"token name {name!r} must be 1-100 letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit)"
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    return await store.add_api_token(name, token_hash(secret), read_only, now), secret


async def check_token(store: ApiTokenStore, presented: str) -> ApiToken | None:
    """The token whose secret is `presented`, or None; the hashes compare in constant time."""
    if not presented.startswith(PREFIX) or len(presented) > 200:
        return None
    wanted = token_hash(presented)
    try:
        found = await store.api_token_by_hash(wanted)
    except NotFound:
        return None
    return found if hmac.compare_digest(found.token_hash, wanted) else None


def token_view(token: ApiToken) -> dict[str, object]:
    """What `api-tokens ls --json` prints: never the hash."""
    return {
        "id": token.id,
        "name": token.name,
        "read_only": token.read_only,
        "created_at": token.created_at.isoformat(),
    }
