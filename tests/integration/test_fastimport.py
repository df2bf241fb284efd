"""The SQLite bulk path (db.sqlite.upsert, writer): duplicates across its batches, in file order."""

from __future__ import annotations

import csv
from pathlib import Path

from campaignd.db.migrate import upgrade
from campaignd.domain import OptIn, SubscriberStatus, SubscriptionStatus
from campaignd.importing.pipeline import run_import
from campaignd.importing.report import ImportRequest
from campaignd.store.memory import MemoryStore
from campaignd.store.protocol import Store
from campaignd.store.sql import SqlStore


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


async def _store(url: str) -> SqlStore:
    await upgrade(url)
    return await SqlStore.open(url)


async def test_duplicates_across_bulk_batches_first_row_wins(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = await _store(sqlite_url)
    try:
        await _scenario(store, tmp_path)
    finally:
        await store.close()


async def test_the_memory_twin_counts_the_same(tmp_path: Path) -> None:
    await _scenario(MemoryStore(), tmp_path)


async def _scenario(store: Store, tmp_path: Path) -> None:
    """Bulk batches of 3 rows on SQLite; the memory twin must count the same."""
    await store.create_list("l", OptIn.SINGLE, "")

    old = [["email", "name", "status"], ["old@x.example", "Old", ""]]
    await run_import(store, ImportRequest(_csv(tmp_path / "0.csv", old)))
    rows = [["email", "name", "status"]]
    rows += [[f"u{i}@x.example", f"first {i}", ""] for i in range(7)]
    rows += [["OLD@x.example", "Old again", ""], ["b@x.example", "B", "blocklisted"]]
    rows += [[f"U{i}@X.example", f"later {i}", ""] for i in range(7)]
    rows += [["old@X.example", "Old third", ""], ["B@x.example", "B2", ""]]
    request = ImportRequest(
        _csv(tmp_path / "1.csv", rows),
        lists=("l",),
        overwrite_info=True,
        bulk_batch_size=3,
    )
    report = await run_import(store, request)
    assert (report.rows, report.inserted, report.updated) == (18, 8, 1)
    assert (report.duplicates, report.errors, report.failed) == (9, 9, 0)
    assert (await store.get_subscriber("u5@x.example")).name == "first 5"
    old_sub = await store.get_subscriber("old@x.example")
    assert old_sub.name == "Old again"
    assert [s.status for s in old_sub.subscriptions] == [SubscriptionStatus.UNCONFIRMED]
    b = await store.get_subscriber("b@x.example")
    assert (b.name, b.status, b.subscriptions) == ("B", SubscriberStatus.BLOCKLISTED, ())

    again = await run_import(store, request)
    assert (again.inserted, again.updated, again.skipped, again.duplicates) == (0, 0, 9, 9)


async def test_reimport_with_new_rows_after_known_ones(sqlite_url: str, tmp_path: Path) -> None:
    store = await _store(sqlite_url)
    try:
        sql = await _known_then_new(store, tmp_path)
    finally:
        await store.close()
    assert sql == await _known_then_new(MemoryStore(), tmp_path)


async def _known_then_new(store: Store, tmp_path: Path) -> list[tuple[int, ...]]:
    """A re-import switches the bulk writer to looking rows up first; new rows after known
    ones must still go in, duplicates of either kind still be found, and counts not change."""
    await store.create_list("l", OptIn.SINGLE, "")
    header = ["email", "name"]
    known = [[f"k{i}@x.example", f"K {i}"] for i in range(6)]
    await run_import(store, ImportRequest(_csv(tmp_path / "a.csv", [header, *known])))
    rows = [header, *known, *([f"n{i}@x.example", f"N {i}"] for i in range(6))]
    rows += [["K1@x.example", "again"], ["N2@X.example", "again"], ["z@x.example", "Z"]]
    request = ImportRequest(_csv(tmp_path / "b.csv", rows), lists=("l",), bulk_batch_size=3)
    out = []
    for _ in range(2):
        r = await run_import(store, request)
        out.append((r.rows, r.inserted, r.updated, r.skipped, r.duplicates, r.errors))
    assert out[0] == (15, 7, 6, 0, 2, 2)  # known rows join the list: updated
    assert out[1] == (15, 0, 0, 13, 2, 2)
    for email in ("k5@x.example", "n5@x.example", "z@x.example"):
        sub = await store.get_subscriber(email)
        assert [s.status for s in sub.subscriptions] == [SubscriptionStatus.UNCONFIRMED]
    assert (await store.get_subscriber("k1@x.example")).name == "K 1"
    return out
