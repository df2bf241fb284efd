"""Figures read back from the ledger after a send, and a PostgreSQL database of the bench's own."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import sqlite3
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_QUERY = (
    "SELECT status, count(*), min(updated_at), max(updated_at) FROM deliveries"
    " WHERE campaign_id = {p} GROUP BY status"
)


def _aware(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def figures(db_url: str, campaign_id: int) -> dict[str, Any]:
    """Counts by status, and the first and last sent row's update time."""
    if db_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as db:
            rows = db.execute(_QUERY.format(p="?"), (campaign_id,)).fetchall()
    else:
        rows = asyncio.run(_pg_rows(db_url, campaign_id))
    counts = {str(r[0]): int(r[1]) for r in rows}
    sent = [r for r in rows if r[0] == "sent"]
    if not sent:
        raise SystemExit(f"bench: nothing was sent: {counts}")
    return {"counts": counts, "first_sent": _aware(sent[0][2]), "last_sent": _aware(sent[0][3])}


def wait_all_sent(db_url: str, campaign_id: int, n: int, timeout: float) -> None:
    """Poll the ledger until all `n` rows are sent (several daemons: no one log line says it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db_url.startswith("sqlite:///"):
            with contextlib.closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as db:
                rows = db.execute(_QUERY.format(p="?"), (campaign_id,)).fetchall()
        else:
            rows = asyncio.run(_pg_rows(db_url, campaign_id))
        if {str(r[0]): int(r[1]) for r in rows}.get("sent") == n:
            return
        time.sleep(0.2)
    raise SystemExit(f"bench: campaign {campaign_id} not sent within {timeout:.0f}s")


async def _pg_rows(db_url: str, campaign_id: int) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        return list(await conn.fetch(_QUERY.format(p="$1"), campaign_id))
    finally:
        await conn.close()


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def pg_database(base_url: str) -> Iterator[str]:
    """A fresh database next to `base_url`'s, dropped afterwards; yields its URL."""
    name = f"campaignd_bench_{os.getpid()}"
    parts = urlsplit(base_url)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    asyncio.run(_admin(base_url, f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(_admin(base_url, f'CREATE DATABASE "{name}"'))
    try:
        yield url
    finally:
        asyncio.run(_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
