"""The subscriber management commands on PostgreSQL, as one operator's session: update,
blocklist, unblocklist, delete, export (re-imported into SQLite), export-data and wipe."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest

from campaignd.db.migrate import upgrade
from tests.acceptance.test_cli_subscribers_manage import Cli, _cli, ok, refused, show

ANN = "ann.pg@example.com"


async def _rows_as_text(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        texts = []
        for t in tables:
            rows = await conn.fetch(f'SELECT t::text FROM "{t[0]}" t')
            texts += [r[0] for r in rows]
        return "\n".join(texts)
    finally:
        await conn.close()


async def _clean(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "TRUNCATE deliveries, campaign_lists, campaigns, bounces, optin_sends, subscriptions,"
            " subscribers, lists, templates RESTART IDENTITY CASCADE"
        )
    finally:
        await conn.close()


@pytest.fixture
def pg(pg_server_url: str) -> Cli:
    asyncio.run(upgrade(pg_server_url))
    asyncio.run(_clean(pg_server_url))
    return _cli(pg_server_url)


def test_manage_subscribers_on_postgres(
    pg: Cli, pg_server_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    ok(pg("lists", "create", "news"))
    ok(pg("subscribers", "add", ANN, "--name", "Ann Pg", "--list", "news", "--attributes",
          '{"city": "Oslo"}'))  # fmt: skip
    ok(pg("subscribers", "add", "bob@example.com", "--list", "news"))
    updated = json.loads(ok(pg("subscribers", "update", ANN, "--merge-attributes",
                               '{"score": 5}', "--json")))  # fmt: skip
    assert updated["attributes"] == {"city": "Oslo", "score": 5}
    before = show(pg, ANN)
    refused(pg("subscribers", "update", ANN, "--email", "BOB@example.com"), "already exists")
    refused(pg("subscribers", "update", ANN, "--attributes", "[1]"), "JSON object")
    assert show(pg, ANN) == before

    assert "new, blocklisted record" in ok(pg("subscribers", "blocklist", "gone@example.com"))
    ok(pg("subscribers", "blocklist", ANN))
    ok(pg("subscribers", "unblocklist", ANN))
    assert [s["status"] for s in show(pg, ANN)["subscriptions"]] == ["unsubscribed"]

    out = tmp_path / "all.csv"
    ok(pg("subscribers", "export", "-o", str(out)))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["email"] for r in rows] == [ANN, "bob@example.com", "gone@example.com"]
    asyncio.run(upgrade(sqlite_url))
    sqlite = _cli(sqlite_url)
    ok(sqlite("subscribers", "import", str(out)))
    for email in (ANN, "bob@example.com", "gone@example.com"):
        a, b = show(pg, email), show(sqlite, email)
        assert (a["email"], a["name"], a["attributes"], a["status"]) == (
            b["email"],
            b["name"],
            b["attributes"],
            b["status"],
        )

    refused(pg("subscribers", "delete", "bob@example.com", "nobody@example.com", "--yes"),
            "no subscriber nobody@example.com; nothing was deleted")  # fmt: skip
    ok(pg("subscribers", "delete", "bob@example.com", "--yes"))
    refused(pg("subscribers", "show", "bob@example.com"), "no subscriber")

    data = json.loads(ok(pg("subscribers", "export-data", ANN)))
    assert data["profile"]["name"] == "Ann Pg" and data["ledger"] == []
    assert "wiped" in ok(pg("subscribers", "wipe", ANN, "--yes"))
    text = asyncio.run(_rows_as_text(pg_server_url)).lower()
    assert "gone@example.com" in text  # the check can see an address
    for trace in (ANN, "ann pg", "bob@example.com"):
        assert trace not in text, trace
