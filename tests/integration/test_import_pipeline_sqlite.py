"""The SQLite writer process (db.sqlite.writer.BulkSession) with batches submitted ahead of their
answers: answers come back in order, a refused batch writes nothing and the next goes on."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from pathlib import Path

import pytest

from campaignd.db.engine import sqlite_path
from campaignd.db.migrate import upgrade
from campaignd.db.sqlite import checkpoint
from campaignd.db.sqlite.fastimport import SqliteBulk
from campaignd.db.sqlite.writer import BulkSession, discard_spare, prestart
from campaignd.domain import ImportMode, ImportOptions, SubscriptionStatus
from campaignd.errors import NotFound


def _rows(*emails: str) -> list[str]:
    return [f for e in emails for f in (e, e.lower(), e.split("@")[0], "{}")]


def _emails(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT email FROM subscribers ORDER BY id")]


async def _database(sqlite_url: str) -> Path:
    await upgrade(sqlite_url)
    path = sqlite_path(sqlite_url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO lists (name, optin, description, uuid, created_at, updated_at) "
            f"VALUES ('l', 'single', '', '{uuid.uuid4().hex}', '2026-01-01 00:00:00.000000', "
            "'2026-01-01 00:00:00.000000')"
        )
    return path


@pytest.mark.parametrize("prestarted", [False, True])
async def test_answers_in_order_and_a_refused_batch_writes_nothing(
    sqlite_url: str, prestarted: bool
) -> None:
    path = await _database(sqlite_url)
    good = ImportOptions(ImportMode.SUBSCRIBE, (1,), SubscriptionStatus.UNCONFIRMED)
    unknown_list = ImportOptions(ImportMode.SUBSCRIBE, (1, 99), SubscriptionStatus.UNCONFIRMED)
    if prestarted:
        prestart()
    session = BulkSession(path)
    try:
        session.submit(_rows("a@x.example", "b@x.example"), good)
        session.submit(_rows("c@x.example", "A@X.example"), unknown_list)
        session.submit(_rows("d@x.example", "B@x.example", "e@x.example"), good)
        first = session.collect()
        with pytest.raises(NotFound, match="no list with id 99"):
            session.collect()
        third = session.collect()
        with pytest.raises(RuntimeError):
            session.collect()  # nothing more was submitted
    finally:
        session.close()
    assert first[0].inserted == 2 and first[1] == []
    assert third[0].inserted == 2 and third[1] == [1]  # B@x.example: met in batch 1
    assert _emails(path) == ["a@x.example", "b@x.example", "d@x.example", "e@x.example"]


async def test_an_unused_spare_writer_ends(sqlite_url: str) -> None:
    prestart()
    discard_spare()
    discard_spare()  # nothing left: a no-op
    path = await _database(sqlite_url)
    session = BulkSession(path)  # starts its own
    try:
        session.submit(_rows("a@x.example"), ImportOptions(ImportMode.BLOCKLIST))
        assert session.collect()[0].inserted == 1
    finally:
        session.close()


async def test_background_checkpoints_start_the_wal_over(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's WAL is copied by a thread of its own and still starts over again and
    again (its header's salt changes each time); every committed row ends in the file."""
    monkeypatch.setattr(checkpoint, "_WAL_FRAMES", 64)
    path = await _database(sqlite_url)
    wal = Path(f"{path}-wal")
    bulk = SqliteBulk(path, background_checkpoints=True)
    options = ImportOptions(ImportMode.SUBSCRIBE, (1,), SubscriptionStatus.UNCONFIRMED)
    salts: set[bytes] = set()
    now = dt.datetime.now(dt.UTC)
    try:
        for b in range(60):
            rows = [(f"u{b}.{i}@x.example",) * 2 + (f"U {i}", "{}") for i in range(100)]
            assert bulk.import_rows(rows, options, now)[0].inserted == 100
            salts.add(wal.read_bytes()[16:24])
    finally:
        bulk.close()
    assert len(salts) >= 5
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM subscriptions").fetchone() == (6000,)
    assert not wal.exists() or wal.stat().st_size == 0  # all of it is in the file now
