"""The in-memory ApiTokenStore: admin API tokens by name, found by the hash of the secret."""

from __future__ import annotations

import datetime as dt

from campaignd.domain import ApiToken
from campaignd.errors import Conflict, NotFound
from campaignd.store.memory.state import MemoryState, utc


class MemoryTokens(MemoryState):
    """add_api_token, api_tokens, api_token_by_hash, revoke_api_token."""

    async def add_api_token(
        self, name: str, token_hash: str, read_only: bool, now: dt.datetime
    ) -> ApiToken:
        if name in self._tokens:
            raise Conflict(f"an API token named {name!r} exists")
        if any(t.token_hash == token_hash for t in self._tokens.values()):
            raise Conflict("an API token with that secret exists")
        created = utc(now)
        assert created is not None
        token = ApiToken(self._next("api_token"), name, token_hash, read_only, created)
        self._tokens[name] = token
        return token

    async def api_tokens(self) -> list[ApiToken]:
        return [self._tokens[name] for name in sorted(self._tokens)]

    async def api_token_by_hash(self, token_hash: str) -> ApiToken:
        for token in self._tokens.values():
            if token.token_hash == token_hash:
                return token
        raise NotFound("no such API token")

    async def revoke_api_token(self, name: str) -> None:
        if self._tokens.pop(name, None) is None:
            raise NotFound(f"no API token named {name!r}")
