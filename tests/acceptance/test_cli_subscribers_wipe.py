"""`subscribers wipe` (GDPR erasure) and `export-data` (GDPR access) after a real send: the
campaign's counts stay exact and the address is nowhere in the database afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.acceptance.helpers import make_env
from tests.support import SmtpTestServer

pytest_plugins = ["tests.support.fixtures"]

ANN = "ann.person@example.com"
TRACES = (ANN, "Ann Person", "+47 555 0100", "ann.person")


def database_text(path: Path) -> str:
    """Every value of every row of every table, as text."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        values = [v for t in tables for row in db.execute(f'SELECT * FROM "{t}"') for v in row]
    finally:
        db.close()
    return "\n".join(map(str, values))


async def test_wipe_keeps_counts_and_leaves_no_trace(
    tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    e = make_env(tmp_path, smtp_server.port, max_attempts=1, concurrency=1)
    smtp_server.faults.add("RCPT", f"550 5.1.1 <{ANN.upper()}>: Recipient address rejected")

    async def cli(*args: str, check: bool = True) -> Any:
        return await asyncio.to_thread(e.cli, *args, check=check)

    await cli("db", "upgrade")
    await cli("lists", "create", "news")
    await cli("subscribers", "add", ANN, "--name", "Ann Person", "--list", "news",
              "--status", "confirmed", "--attributes", '{"phone": "+47 555 0100"}')  # fmt: skip
    await cli("subscribers", "add", "bob@example.com", "--list", "news", "--status", "confirmed")
    (tmp_path / "body.html").write_text("<p>Hello</p>")
    campaign = (
        await cli(
            "campaigns", "create", "--name", "c", "--subject", "s", "--list", "news",
            "--body-file", str(tmp_path / "body.html"),
        )
    ).stdout.strip()  # fmt: skip
    await cli("campaigns", "start", campaign)
    await cli("run", "--until-idle")
    before = e.show(campaign)
    assert (before["to_send"], before["sent"], before["failed"]) == (2, 1, 1)

    data = json.loads((await cli("subscribers", "export-data", ANN)).stdout)
    assert data["profile"]["email"] == ANN
    assert data["profile"]["attributes"] == {"phone": "+47 555 0100"}
    # the hard bounce unsubscribed it ([bounces] default action)
    subscriptions = [(s["list_name"], s["status"]) for s in data["subscriptions"]]
    assert subscriptions == [("news", "unsubscribed")]
    [row] = data["ledger"]
    assert (row["campaign_id"], row["campaign_name"], row["status"]) == (
        int(campaign),
        "c",
        "failed",
    )
    assert ANN.upper() in row["reply"] and row["updated_at"]
    assert [(b["type"], b["source"]) for b in data["bounces"]] == [("hard", "smtp")]

    files = tmp_path.glob("c.db*")
    assert ANN.encode() in b"".join(p.read_bytes() for p in files)  # the check can see it
    refused = await cli("subscribers", "wipe", ANN, check=False)
    assert refused.returncode == 1 and "give --yes" in refused.stderr
    out = (await cli("subscribers", "wipe", ANN.upper(), "--yes")).stdout
    assert f"wiped {ANN}: 1 ledger row(s) kept anonymously" in out

    after = e.show(campaign)
    counts = ("to_send", "sent", "failed", "unknown", "skipped", "pending", "deferred")
    assert {k: after[k] for k in counts} == {k: before[k] for k in counts}
    assert (await cli("campaigns", "failures", campaign, "--json")).stdout.strip() == "[]"
    gone = await cli("subscribers", "export-data", ANN, check=False)
    assert gone.returncode == 1 and "no subscriber" in gone.stderr

    db = tmp_path / "c.db"
    text = database_text(db).lower()
    assert "bob@example.com" in text  # the check can see an address
    for trace in (*TRACES, data["profile"]["uuid"]):
        assert trace.lower() not in text, trace
    with contextlib.closing(sqlite3.connect(db)) as conn:
        message_ids = conn.execute("SELECT message_id FROM deliveries").fetchall()
    assert sorted(m[0] != "" for m in message_ids) == [False, True]  # Ann's emptied, Bob's kept
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("c.db*")).lower()
    for trace in TRACES:
        assert trace.lower().encode() not in raw, trace
