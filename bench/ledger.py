"""Figures read back from the ledger after a send, and a PostgreSQL database of the bench's own."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import sqlite3
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


async def _pg_rows(db_url: str, campaign_id: int) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        return list(await conn.fetch(_QUERY.format(p="$1"), campaign_id))
    finally:
        await conn.close()


def backend_cpu_seconds(db_url: str) -> float | None:
    """CPU time (user + system) of the PostgreSQL backends now connected to `db_url`'s
    database, from /proc: the server's share of a send, read just before its daemons stop (their
    pooled connections live as long as they do). None when the server is not on this host."""
    from bench.cpu import process_seconds

    pids = asyncio.run(_backend_pids(db_url))
    if not pids or not os.path.exists(f"/proc/{pids[0]}"):
        return None
    return sum(process_seconds(pid) for pid in pids)


async def _backend_pids(db_url: str) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        return [int(r["pid"]) for r in rows]
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
