"""Driver-level SQL for the hot paths: one SQL text per dialect, values converted once per row.

SQLAlchemy's per-value type processing costs more than SQLite itself on 1000-row batches, so
bulk statements go straight to the driver (`exec_driver_sql`) with values already in the
form the column types store: UUIDs as 32-digit hex on SQLite, datetimes as UTC text on SQLite,
JSON as text everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db.types import sqlite_text, to_utc

_PLACEHOLDER = re.compile(r"\?")


class Raw:
    """Raw SQL helpers for one dialect ("sqlite" or "postgresql")."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        self._cache: dict[str, str] = {}

    def sql(self, query: str) -> str:
        """`?` placeholders as the driver wants them ($1, $2, ... on asyncpg)."""
        if not self.pg:
            return query
        cached = self._cache.get(query)
        if cached is None:
            counter = iter(range(1, 10_000))
            cached = _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", query)
            self._cache[query] = cached
        return cached

    async def run(
        self, conn: AsyncConnection, query: str, params: tuple[Any, ...] | Sequence[tuple[Any, ...]]
    ) -> Any:
        """Execute once (a tuple) or for many rows (a list of tuples); the cursor result."""
        return await conn.exec_driver_sql(self.sql(query), params)

    # -- values in ----------------------------------------------------------------------
    def ts(self, value: dt.datetime | None) -> Any:
        if value is None:
            return None
        return value.astimezone(dt.UTC) if self.pg else sqlite_text(value)

    def new_uuids(self, count: int) -> list[Any]:
        """`count` fresh random UUIDs (version 7: time-ordered, so the unique index grows at its
        end instead of at random pages, which is several times faster on a large table)."""
        head = (time.time_ns() // 1_000_000).to_bytes(6, "big")
        noise = os.urandom(10 * count)
        out: list[Any] = []
        for i in range(0, 10 * count, 10):
            r = noise[i : i + 10]
            raw = head + bytes((0x70 | (r[0] & 0x0F), r[1], 0x80 | (r[2] & 0x3F))) + r[3:]
            out.append(uuid.UUID(bytes=raw) if self.pg else raw.hex())
        return out

    @staticmethod
    def json(value: Any) -> str:
        return json.dumps(value)

    def in_(self, column: str, kind: str = "text") -> str:
        """`column` is one of the values of one parameter made by `array`."""
        if self.pg:
            # Not `= ANY(array)`: for 1000 values the planner prefers a sequential scan.
            return f"{column} IN (SELECT unnest(CAST(? AS {kind}[])))"
        return f"{column} IN (SELECT value FROM json_each(?))"

    def rows_of(self, alias: str, kind: str = "text") -> str:
        """A FROM item of one parameter made by `array`, one row per value in `alias.value`.

        Joining from it (rather than `IN`) keeps index nested loops even when PostgreSQL's
        statistics still describe a table from before a large import.
        """
        if self.pg:
            return f"unnest(CAST(? AS {kind}[])) AS {alias}(value)"
        return f"json_each(?) AS {alias}"

    def array(self, values: Sequence[Any]) -> Any:
        return list(values) if self.pg else json.dumps(list(values))

    def cast_ts(self) -> str:
        """A datetime placeholder usable anywhere (PostgreSQL needs the type spelled out)."""
        return "CAST(? AS TIMESTAMP WITH TIME ZONE)" if self.pg else "?"

    # -- values out ---------------------------------------------------------------------
    @staticmethod
    def to_uuid(value: Any) -> uuid.UUID:
        if type(value) is uuid.UUID:
            return value
        return uuid.UUID(str(value))  # SQLite hex, or asyncpg's own UUID class

    @staticmethod
    def to_json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    @staticmethod
    def to_ts(value: Any) -> dt.datetime | None:
        return to_utc(value)
