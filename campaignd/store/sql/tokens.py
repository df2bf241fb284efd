"""The SQL ApiTokenStore: admin API tokens by name, found by the hash of the secret."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tables as T
from campaignd.domain import ApiToken
from campaignd.errors import Conflict, NotFound
from campaignd.store.sql.base import SqlBase


def _token(row: Any) -> ApiToken:
    return ApiToken(row.id, row.name, row.token_hash, bool(row.read_only), row.created_at)


class SqlTokens(SqlBase):
    """add_api_token, api_tokens, api_token_by_hash, revoke_api_token."""

    async def add_api_token(
        self, name: str, token_hash: str, read_only: bool, now: dt.datetime
    ) -> ApiToken:
        t = T.api_tokens.c

        async def fn(conn: AsyncConnection) -> ApiToken:
            if await conn.scalar(select(t.id).where(t.name == name)) is not None:
                raise Conflict(f"an API token named {name!r} exists")
            row = (
                await conn.execute(
                    insert(T.api_tokens)
                    .values(name=name, token_hash=token_hash, read_only=read_only, created_at=now)
                    .returning(*T.api_tokens.c)
                )
            ).one()
            return _token(row)

        return await self._tx(fn)

    async def api_tokens(self) -> list[ApiToken]:
        async def fn(conn: AsyncConnection) -> list[ApiToken]:
            rows = await conn.execute(select(T.api_tokens).order_by(T.api_tokens.c.name))
            return [_token(r) for r in rows]

        return await self._tx(fn, write=False)

    async def api_token_by_hash(self, token_hash: str) -> ApiToken:
        async def fn(conn: AsyncConnection) -> ApiToken:
            row = (
                await conn.execute(
                    select(T.api_tokens).where(T.api_tokens.c.token_hash == token_hash)
                )
            ).first()
            if row is None:
                raise NotFound("no such API token")
            return _token(row)

        return await self._tx(fn, write=False)

    async def revoke_api_token(self, name: str) -> None:
        async def fn(conn: AsyncConnection) -> None:
            result = await conn.execute(delete(T.api_tokens).where(T.api_tokens.c.name == name))
            if not result.rowcount:
                raise NotFound(f"no API token named {name!r}")

        await self._tx(fn)
