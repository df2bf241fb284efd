"""The storage seam for admin API tokens (campaignd.store.protocol.Store includes it)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from campaignd.domain import ApiToken


class ApiTokenStore(Protocol):
    """Admin API tokens: a name, the hex SHA-256 of the secret, read-only or not."""

    async def add_api_token(
        self, name: str, token_hash: str, read_only: bool, now: dt.datetime
    ) -> ApiToken:
        """Raise Conflict if the name (or the hash) exists."""
        ...

    async def api_tokens(self) -> list[ApiToken]:
        """Every token, by name."""
        ...

    async def api_token_by_hash(self, token_hash: str) -> ApiToken:
        """Raise NotFound."""
        ...

    async def revoke_api_token(self, name: str) -> None:
        """Delete the token. Raise NotFound."""
        ...
