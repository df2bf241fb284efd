"""The import use case against the real stores: SQLite and PostgreSQL (and the memory twin)."""

from __future__ import annotations

import csv
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from campaignd.domain import (
    ImportCounts,
    ImportMode,
    ImportOptions,
    NewSubscriber,
    OptIn,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.errors import InvalidInput, NotFound, StoreError
from campaignd.importing.csvrows import RowError
from campaignd.importing.pipeline import run_import
from campaignd.importing.report import ImportReport, ImportRequest
from campaignd.store.memory import MemoryStore
from campaignd.store.protocol import Store

SAMPLE = Path(__file__).parents[2] / "campaignd" / "devtools" / "samples" / "subscribers.csv"
_UPGRADED: set[str] = set()


async def _sql_store(url: str) -> Any:
    from campaignd.db.migrate import upgrade
    from campaignd.store.sql import SqlStore

    if url not in _UPGRADED:
        await upgrade(url)
        _UPGRADED.add(url)
    return await SqlStore.open(url)


def _memory_store() -> Any:
    return MemoryStore()


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A database URL, or "memory" (a sync fixture: pg_server_url runs its own event loop)."""
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_server_url"))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Any]:
    s = _memory_store() if db_url == "memory" else await _sql_store(db_url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def tag() -> str:
    """Unique names: the PostgreSQL database is shared by the whole run."""
    return secrets.token_hex(4)


def write_csv(path: Path, rows: Sequence[Sequence[str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


async def make_list(store: Store, name: str) -> int:
    return (await store.create_list(name, OptIn.SINGLE, "")).id


async def count_on(store: Store, name: str) -> int:
    return next(li.subscriber_count for li in await store.lists() if li.name == name)


async def test_sample_file(store: Store, tmp_path: Path, tag: str) -> None:
    # The sample uses fixed addresses: give PostgreSQL (shared by the run) its own copy.
    text = re.sub("@example[.]", f"@{tag}.example.", SAMPLE.read_text("utf-8"), flags=re.I)
    path = tmp_path / "s.csv"
    path.write_text(text, encoding="utf-8")
    await make_list(store, f"news-{tag}")
    errors: list[RowError] = []
    report = await run_import(
        store, ImportRequest(path, lists=(f"news-{tag}",), batch_size=7), on_errors=errors.extend
    )
    assert (report.rows, report.inserted, report.errors, report.duplicates) == (50, 41, 9, 2)
    assert report.complete
    assert sorted(e.line for e in errors) == [43, 44, 45, 46, 47, 48, 49, 50, 51]
    assert await count_on(store, f"news-{tag}") == 41
    ada = await store.get_subscriber(f"ADA.lovelace@{tag}.example.com")
    assert ada.name == "Ada Lovelace"  # the first row wins over later duplicates
    assert ada.attributes == {"city": "London", "plan": "pro"}
    assert [s.status for s in ada.subscriptions] == [SubscriptionStatus.UNCONFIRMED]
    tim = await store.get_subscriber(f"tim.berners-lee@{tag}.example.org")
    assert tim.name == "Tim Berners Lee"

    again = await run_import(store, ImportRequest(path, lists=(f"news-{tag}",), batch_size=7))
    assert (again.inserted, again.updated, again.skipped, again.errors) == (0, 0, 41, 9)
    assert await count_on(store, f"news-{tag}") == 41
    assert (await store.get_subscriber(f"ada.lovelace@{tag}.example.com")) == ada


async def test_overwrite_info_and_status_are_separate(
    store: Store, tmp_path: Path, tag: str
) -> None:
    await make_list(store, f"l-{tag}")
    a, b = f"a@{tag}.example.com", f"b@{tag}.example.com"
    first = write_csv(tmp_path / "1.csv", [["email", "name"], [a, "A"], [b, "B"]])
    await run_import(store, ImportRequest(first, lists=(f"l-{tag}",)))
    second = write_csv(
        tmp_path / "2.csv", [["Name", "EMAIL", "attributes"], ["A2", a, '{"x": 1}'], ["B", b, ""]]
    )
    confirmed = SubscriptionStatus.CONFIRMED

    plain = await run_import(store, ImportRequest(second, lists=(f"l-{tag}",), status=confirmed))
    assert (plain.inserted, plain.updated, plain.skipped) == (0, 0, 2)
    assert (await store.get_subscriber(a)).name == "A"

    info = await run_import(
        store,
        ImportRequest(second, lists=(f"l-{tag}",), status=confirmed, overwrite_info=True),
    )
    assert (info.updated, info.skipped) == (1, 1)
    sub_a = await store.get_subscriber(a)
    assert (sub_a.name, dict(sub_a.attributes)) == ("A2", {"x": 1})
    assert sub_a.subscriptions[0].status is SubscriptionStatus.UNCONFIRMED

    status = await run_import(
        store,
        ImportRequest(second, lists=(f"l-{tag}",), status=confirmed, overwrite_status=True),
    )
    assert status.updated == 2
    for email in (a, b):
        sub = await store.get_subscriber(email)
        assert [s.status for s in sub.subscriptions] == [confirmed]
    assert (await store.get_subscriber(a)).name == "A2"


async def test_overwrite_info_leaves_columns_the_file_lacks_alone(
    store: Store, tmp_path: Path, tag: str
) -> None:
    # Issue 15: an email,name file reset the attributes, an email-only file reset the name.
    a = f"ann.lee@{tag}.example.com"
    full = write_csv(tmp_path / "0.csv", [["email", "name", "attributes"], [a, "A", '{"x": 1}']])
    await run_import(store, ImportRequest(full))

    async def overwrite(name: str, rows: list[list[str]]) -> tuple[int, int]:
        report = await run_import(
            store, ImportRequest(write_csv(tmp_path / name, rows), overwrite_info=True)
        )
        assert report.complete
        return report.updated, report.skipped

    assert await overwrite("1.csv", [["email", "name"], [a, "A2"]]) == (1, 0)
    sub = await store.get_subscriber(a)
    assert (sub.name, dict(sub.attributes)) == ("A2", {"x": 1})
    assert await overwrite("2.csv", [["email", "city"], [a, "Paris"]]) == (0, 1)
    sub = await store.get_subscriber(a)
    assert (sub.name, dict(sub.attributes)) == ("A2", {"x": 1})
    # An empty cell in a column the file has is how a field is cleared.
    assert await overwrite("3.csv", [["attributes", "email"], ["", a]]) == (1, 0)
    sub = await store.get_subscriber(a)
    assert (sub.name, dict(sub.attributes)) == ("A2", {})
    assert await overwrite("4.csv", [["email", "name"], [a, ""]]) == (1, 0)
    assert (await store.get_subscriber(a)).name == "Ann Lee"  # derived from the address


async def test_an_unclosed_quote_loses_only_its_row(store: Store, tmp_path: Path, tag: str) -> None:
    # Issue 15: 36 of 37 rows were dropped behind an open quote on row 5; same on every path.
    await make_list(store, f"l-{tag}")
    lines = ["email,name,attributes"]
    for n in range(1, 38):
        name = f'"Lee, {n}"' if n % 4 == 0 else f"Name {n}"
        close = "" if n == 5 else '"'  # row 5's attributes never end
        lines.append(f'u{n}@{tag}.example.com,{name},"{{""n"": {n}}}{close}')
    path = tmp_path / "x.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    errors: list[RowError] = []
    report = await run_import(
        store,
        ImportRequest(path, lists=(f"l-{tag}",), batch_size=6, bulk_batch_size=6),
        on_errors=errors.extend,
    )
    assert (report.rows, report.inserted, report.errors, report.complete) == (37, 36, 1, True)
    assert [e.line for e in errors] == [6]
    assert errors[0].error.startswith("quote never closed")
    assert await count_on(store, f"l-{tag}") == 36
    for n in (4, 6, 37):
        sub = await store.get_subscriber(f"u{n}@{tag}.example.com")
        assert sub.name == (f"Lee, {n}" if n % 4 == 0 else f"Name {n}")
        assert dict(sub.attributes) == {"n": n}


async def test_blocklist_mode(store: Store, tmp_path: Path, tag: str) -> None:
    await make_list(store, f"l-{tag}")
    a, b = f"a@{tag}.example.com", f"b@{tag}.example.com"
    await run_import(
        store, ImportRequest(write_csv(tmp_path / "1.csv", [["email"], [a]]), lists=(f"l-{tag}",))
    )
    path = write_csv(tmp_path / "2.csv", [["email"], [a], [b]])
    report = await run_import(store, ImportRequest(path, mode=ImportMode.BLOCKLIST))
    assert (report.inserted, report.updated) == (1, 1)
    for email in (a, b):
        assert (await store.get_subscriber(email)).status is SubscriberStatus.BLOCKLISTED
    assert await count_on(store, f"l-{tag}") == 0
    again = await run_import(store, ImportRequest(path, mode=ImportMode.BLOCKLIST))
    assert (again.inserted, again.updated, again.skipped) == (0, 0, 2)


async def test_listmonk_export(store: Store, tmp_path: Path, tag: str) -> None:
    await make_list(store, f"l-{tag}")
    header = ["uuid", "email", "name", "attributes", "status", "created_at", "updated_at"]
    rows = [
        ["u1", f"on@{tag}.example.com", "On", '{"a": 1}', "enabled", "2024-01-01", "2024-01-02"],
        ["u2", f"bl@{tag}.example.com", "Bl", "{}", "blocklisted", "2024-01-01", "2024-01-02"],
        ["u3", f"off@{tag}.example.com", "Off", "{}", "disabled", "2024-01-01", "2024-01-02"],
    ]
    report = await run_import(
        store, ImportRequest(write_csv(tmp_path / "x.csv", [header, *rows]), lists=(f"l-{tag}",))
    )
    assert (report.rows, report.inserted, report.errors) == (3, 2, 1)
    assert report.error_samples[0].line == 4
    on = await store.get_subscriber(f"on@{tag}.example.com")
    assert (on.status, len(on.subscriptions)) == (SubscriberStatus.ENABLED, 1)
    bl = await store.get_subscriber(f"bl@{tag}.example.com")
    assert bl.status is SubscriberStatus.BLOCKLISTED
    assert all(s.status is SubscriptionStatus.UNSUBSCRIBED for s in bl.subscriptions)
    with pytest.raises(NotFound):
        await store.get_subscriber(f"off@{tag}.example.com")


async def test_unknown_list_writes_nothing(store: Store, tmp_path: Path, tag: str) -> None:
    path = write_csv(tmp_path / "x.csv", [["email"], [f"a@{tag}.example.com"]])
    with pytest.raises(InvalidInput, match=f"no list named 'nope-{tag}'"):
        await run_import(store, ImportRequest(path, lists=(f"nope-{tag}",)))
    with pytest.raises(NotFound):
        await store.get_subscriber(f"a@{tag}.example.com")


async def test_duplicates_across_batches(store: Store, tmp_path: Path, tag: str) -> None:
    rows = [["email", "name"]] + [[f"u{i}@{tag}.example.com", f"first {i}"] for i in range(10)]
    rows += [[f"U{i}@{tag}.EXAMPLE.com", f"later {i}"] for i in range(10)]
    report = await run_import(
        store,
        ImportRequest(write_csv(tmp_path / "x.csv", rows), overwrite_info=True, batch_size=3),
    )
    assert (report.inserted, report.duplicates, report.errors) == (10, 10, 10)
    assert (await store.get_subscriber(f"u7@{tag}.example.com")).name == "first 7"


class FailingStore:
    """A real store whose second import_batch call is refused."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls = 0

    async def get_list(self, name: str) -> Any:
        return await self.inner.get_list(name)

    async def import_batch(
        self, rows: Sequence[NewSubscriber], options: ImportOptions
    ) -> ImportCounts:
        self.calls += 1
        if self.calls == 2:
            raise StoreError("disk full (injected)")
        return await self.inner.import_batch(rows, options)


async def test_a_refused_batch_loses_only_itself(store: Store, tmp_path: Path, tag: str) -> None:
    rows = [["email"]] + [[f"u{i}@{tag}.example.com"] for i in range(10)]
    errors: list[RowError] = []
    failing = FailingStore(store)
    report: ImportReport = await run_import(
        failing,  # type: ignore[arg-type]
        ImportRequest(write_csv(tmp_path / "x.csv", rows), batch_size=4),
        on_errors=errors.extend,
    )
    assert (report.rows, report.inserted, report.failed) == (10, 6, 4)
    assert not report.complete
    [failure] = report.batch_failures
    assert (failure.first_line, failure.last_line, failure.rows) == (6, 9, 4)
    assert "disk full" in failure.error
    assert [e.line for e in errors] == [6, 7, 8, 9]
    for i in (0, 3, 8, 9):
        await store.get_subscriber(f"u{i}@{tag}.example.com")
    with pytest.raises(NotFound):
        await store.get_subscriber(f"u{4}@{tag}.example.com")
