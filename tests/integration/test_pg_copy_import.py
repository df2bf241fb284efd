"""The PostgreSQL COPY import (db.postgres, store.pg_import) against the SQLite fast path: the same
hostile files, imported in the same steps, leave the same subscribers and subscriptions and give
the same reports, field by field."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from campaignd.db.engine import sqlite_path
from campaignd.db.head import SCHEMA_HEAD
from campaignd.db.migrate import upgrade
from campaignd.db.postgres.copyimport import CopySession, describe, postgres_dsn
from campaignd.domain import (
    ImportMode,
    ImportOptions,
    NewSubscriber,
    SubscriptionStatus,
)
from campaignd.errors import NotFound, SchemaOutOfDate
from campaignd.importing.csvrows import RowError
from campaignd.importing.pipeline import run_import
from campaignd.importing.report import ImportReport, ImportRequest
from campaignd.store.pg_import import PgImportStore
from campaignd.store.sqlite_import import SqliteImportStore
from tests.integration.store_fixtures import _PG_READY, _pg_clean

_LISTS = ("news", "promo")
_STATE_PG = """
SELECT s.email, s.email_key, s.name, s.attributes::text, s.status FROM subscribers s
ORDER BY s.email_key
"""
_SUBS = """
SELECT s.email_key, l.name, x.status FROM subscriptions x
JOIN subscribers s ON s.id = x.subscriber_id JOIN lists l ON l.id = x.list_id
ORDER BY s.email_key, l.name
"""


@pytest.fixture
def pg_url(pg_server_url: str) -> str:
    if pg_server_url not in _PG_READY:
        asyncio.run(upgrade(pg_server_url))
        _PG_READY.add(pg_server_url)
    asyncio.run(_pg_clean(pg_server_url))
    return pg_server_url


async def _pg(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(postgres_dsn(url))
    try:
        return [tuple(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def _lists_sql() -> list[str]:
    return [
        f"INSERT INTO lists (name, optin, description, uuid, created_at, updated_at) VALUES "
        f"('{name}', 'single', '', '{uuid.uuid4().hex}', '2026-01-01 00:00:00', "
        "'2026-01-01 00:00:00')"
        for name in _LISTS
    ]


async def _sqlite_db(url: str) -> Path:
    await upgrade(url)
    path = sqlite_path(url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        for statement in _lists_sql():
            conn.execute(statement)
    return path


async def _pg_db(url: str) -> None:
    conn = await asyncpg.connect(postgres_dsn(url))
    try:
        for statement in _lists_sql():
            await conn.execute(statement)
    finally:
        await conn.close()


def _state_sqlite(path: Path) -> tuple[list[Any], list[Any]]:
    with sqlite3.connect(path) as conn:
        subs = conn.execute(_STATE_PG.replace("::text", "")).fetchall()
        subscriptions = conn.execute(_SUBS).fetchall()
    return [(*s[:3], json.loads(s[3]), s[4]) for s in subs], [tuple(s) for s in subscriptions]


async def _state_pg(url: str) -> tuple[list[Any], list[Any]]:
    subs = await _pg(url, _STATE_PG)
    return [(*s[:3], json.loads(s[3]), s[4]) for s in subs], await _pg(url, _SUBS)


# The hostile files: bad rows (address, JSON, column count, disabled), duplicates in and across
# batches (mixed case), non-ASCII names and attributes, a listmonk status column, empty cells
# (an empty name is derived from the address, empty attributes clear), and an unclosed quote.
_FIRST = (
    "email,name,attributes,status\n"
    'Ann@Example.com,Ann,"{""plan"": ""gold"", ""n"": 1}",enabled\n'
    "bob@example.com,Bob,,\n"
    "not-an-address,Nobody,,\n"
    'ANN@example.com,Ann again,"{""plan"": ""tin""}",\n'
    'zoë@exämple.org,Zoë Ünïcode,"{""city"": ""Zürich""}",\n'
    "carl@example.com,Carl,{broken json,\n"
    "dora@example.com,Dora,,blocklisted\n"
    "eve@example.com,Eve,,disabled\n"
    "fay@example.com,Fay,,,extra\n"
    'gus@example.com,"Gus, Jr.","{""tags"": [1, 2.5, true, null]}",\n'
    "BOB@EXAMPLE.COM,Bob twice,,\n"
    "hal@example.com,Hal,,\n"
    "ida@example.com,Ida,[1],\n"
    "hal@example.com,Hal again,,\n"
)
# Overwrites: no attributes column (attributes are left alone), an empty name cell.
_SECOND = (
    "name,email\n"
    "Ann Renamed,ann@example.com\n"
    ",bob@example.com\n"
    "New Person,new@example.com\n"
    "Dora,DORA@example.com\n"
    "Zoë,zoë@exämple.org\n"
    "Ann Thrice,ANN@EXAMPLE.COM\n"
)
_THIRD = (
    "email,attributes\n"
    'gus@example.com,"{""tags"": [1, 2.5, true, null]}"\n'
    "hal@example.com,\n"
    'ann@example.com,"{""plan"": ""gold"", ""n"": 1.0}"\n'
    "jo@example.com,\n"
)
_BLOCK = "email\nhal@example.com\nnew@example.com\nkim@example.com\nHAL@example.com\nbad@\n"
_OPEN_QUOTE = 'email,name\nlen@example.com,Len\nmo@example.com,"Mo\nnia@example.com,Nia\n'

_STEPS: list[tuple[str, dict[str, Any]]] = [
    (_FIRST, {"lists": ("news",), "status": SubscriptionStatus.CONFIRMED}),
    (_SECOND, {"lists": ("news", "promo"), "overwrite_info": True}),
    (_THIRD, {"lists": ("promo",), "overwrite_info": True, "overwrite_status": True}),
    (_SECOND, {"lists": ("news",), "status": SubscriptionStatus.CONFIRMED}),
    (_SECOND, {"lists": ("news",), "overwrite_status": True}),
    (_BLOCK, {"mode": ImportMode.BLOCKLIST}),
    (_FIRST, {"lists": ("news", "promo"), "overwrite_info": True, "overwrite_status": True}),
    (_OPEN_QUOTE, {"lists": ("news",)}),
]


def _report(report: ImportReport, errors: list[RowError]) -> dict[str, Any]:
    return {**vars(report), "errors_file": sorted(errors, key=lambda e: e.line)}


async def _run_steps(store: Any, tmp_path: Path, batch: int) -> list[dict[str, Any]]:
    out = []
    for n, (text, kwargs) in enumerate(_STEPS):
        path = tmp_path / f"step{n}.csv"
        path.write_text(text, encoding="utf-8")
        errors: list[RowError] = []
        request = ImportRequest(path=path, bulk_batch_size=batch, **kwargs)
        report = await run_import(store, request, on_errors=errors.extend)
        out.append(_report(report, errors))
    return out


@pytest.mark.parametrize("batch", [1, 3, 5_000])
@pytest.mark.parametrize("per_row_checks", [False, True])
async def test_the_same_hostile_files_give_the_same_result_on_sqlite_and_postgres(
    sqlite_url: str, pg_url: str, tmp_path: Path, batch: int, per_row_checks: bool
) -> None:
    path = await _sqlite_db(sqlite_url)
    await _pg_db(pg_url)
    lite = SqliteImportStore(path)
    pg = PgImportStore(postgres_dsn(pg_url) or "", per_row_checks=per_row_checks)
    try:
        await pg.check_schema()
        lite_reports = await _run_steps(lite, tmp_path, batch)
        pg_reports = await _run_steps(pg, tmp_path, batch)
    finally:
        await lite.close()
        await pg.close()
    for step, (a, b) in enumerate(zip(lite_reports, pg_reports, strict=True)):
        assert a == b, f"step {step}"
    assert _state_sqlite(path) == await _state_pg(pg_url)
    # The steps did what they say (not only the same wrong thing twice).
    first = pg_reports[0]
    assert (first["rows"], first["inserted"], first["duplicates"]) == (14, 6, 3)
    assert [e.line for e in first["errors_file"]] == [4, 5, 7, 9, 10, 12, 14, 15]
    subs, subscriptions = await _state_pg(pg_url)
    by_key = {s[1]: s for s in subs}
    assert by_key["new@example.com"][2:] == ("New Person", {}, "blocklisted")
    assert ("new@example.com", "promo", "unsubscribed") in subscriptions
    assert ("jo@example.com", "promo", "unconfirmed") in subscriptions
    assert by_key["hal@example.com"][4] == "blocklisted"
    assert ("hal@example.com", "news", "unsubscribed") in subscriptions
    last = pg_reports[-1]  # the unclosed quote: line 3 reported, the rows after it imported
    assert (last["inserted"], [e.line for e in last["errors_file"]]) == (2, [3])


async def test_batches_answer_in_order_and_a_refused_batch_writes_nothing(pg_url: str) -> None:
    await _pg_db(pg_url)
    good = ImportOptions(ImportMode.SUBSCRIBE, (1,), SubscriptionStatus.UNCONFIRMED)
    unknown_list = ImportOptions(ImportMode.SUBSCRIBE, (1, 99), SubscriptionStatus.UNCONFIRMED)

    def rows(*emails: str) -> list[str]:
        return [f for e in emails for f in (e, e.lower(), e.split("@")[0], "{}")]

    session = await asyncio.to_thread(CopySession, postgres_dsn(pg_url) or "")
    try:
        session.submit(rows("a@x.example", "b@x.example"), good)
        session.submit(rows("c@x.example", "A@X.example"), unknown_list)
        session.submit(rows("d@x.example", "B@x.example", "e@x.example", "D@x.example"), good)
        first = await asyncio.to_thread(session.collect)
        with pytest.raises(NotFound, match="no list with id 99"):
            await asyncio.to_thread(session.collect)
        third = await asyncio.to_thread(session.collect)
        with pytest.raises(RuntimeError):
            session.collect()  # nothing more was submitted
    finally:
        await asyncio.to_thread(session.close)
    assert first[0].inserted == 2 and first[1] == []
    # B@x.example: met in batch 1; D@x.example: earlier in the same batch.
    assert third[0].inserted == 2 and third[1] == [1, 3]
    emails = await _pg(pg_url, "SELECT email FROM subscribers ORDER BY id")
    assert [e[0] for e in emails] == ["a@x.example", "b@x.example", "d@x.example", "e@x.example"]


async def test_a_batch_guessed_all_new_that_is_not_is_inserted_again(pg_url: str) -> None:
    """Batch 2 is tried as a plain INSERT (batch 1 was all new) and fails on its last row,
    added meanwhile by someone else: it is rolled back and inserted with ON CONFLICT."""
    await _pg_db(pg_url)
    options = ImportOptions(ImportMode.SUBSCRIBE, (1,), SubscriptionStatus.CONFIRMED)

    def rows(*emails: str) -> list[str]:
        return [f for e in emails for f in (e, e.lower(), e.split("@")[0], "{}")]

    session = await asyncio.to_thread(CopySession, postgres_dsn(pg_url) or "")
    try:
        session.submit(rows("a@x.example", "b@x.example"), options)
        first = await asyncio.to_thread(session.collect)
        await _pg(
            pg_url,
            "INSERT INTO subscribers (uuid, email, email_key, name, attributes, status, "
            "created_at, updated_at) VALUES (gen_random_uuid(), 'Z@x.example', 'z@x.example', "
            "'Zed', '{}', 'enabled', now(), now())",
        )
        session.submit(rows("c@x.example", "d@x.example", "Z@X.example"), options)
        second = await asyncio.to_thread(session.collect)
        session.submit(rows("e@x.example", "A@x.example"), options)
        third = await asyncio.to_thread(session.collect)
    finally:
        await asyncio.to_thread(session.close)
    assert (first[0].inserted, first[1]) == (2, [])
    assert (second[0].inserted, second[0].updated, second[0].skipped, second[1]) == (2, 1, 0, [])
    assert (third[0].inserted, third[1]) == (1, [1])  # A@x.example: met in batch 1
    subscribed = await _pg(
        pg_url,
        "SELECT s.email, s.name FROM subscribers s JOIN subscriptions x ON x.subscriber_id = s.id "
        "WHERE x.list_id = 1 AND x.status = 'confirmed' ORDER BY s.email_key",
    )
    assert subscribed == [
        ("a@x.example", "a"),
        ("b@x.example", "b"),
        ("c@x.example", "c"),
        ("d@x.example", "d"),
        ("e@x.example", "e"),
        ("Z@x.example", "Zed"),
    ]


async def test_import_batch_counts_as_the_sqlite_store(sqlite_url: str, pg_url: str) -> None:
    path = await _sqlite_db(sqlite_url)
    await _pg_db(pg_url)
    lite = SqliteImportStore(path)
    pg = PgImportStore(postgres_dsn(pg_url) or "")
    options = ImportOptions(ImportMode.SUBSCRIBE, (1,), SubscriptionStatus.CONFIRMED)
    batch = [
        NewSubscriber("a@x.example", "A", {"k": 1}),
        NewSubscriber("A@x.example", "A2", {}),
        NewSubscriber("b@x.example", "B", {}),
    ]
    try:
        for store in (lite, pg):
            assert (await store.import_batch(batch, options)).skipped == 1
            again = await store.import_batch(batch, options)
            assert (again.inserted, again.updated, again.skipped) == (0, 0, 3)
    finally:
        await lite.close()
        await pg.close()
    assert _state_sqlite(path) == await _state_pg(pg_url)


async def test_lists_schema_and_errors_without_the_password(pg_url: str) -> None:
    await _pg_db(pg_url)
    store = PgImportStore(postgres_dsn(pg_url) or "")
    try:
        await store.check_schema()
        news = await store.get_list("news")
        assert (news.id, news.name, news.subscriber_count) == (1, "news", 0)
        with pytest.raises(NotFound):
            await store.get_list("nope")
    finally:
        await store.close()
    await _pg(pg_url, "UPDATE alembic_version SET version_num = '0001'")
    old = PgImportStore(postgres_dsn(pg_url) or "")
    try:
        with pytest.raises(SchemaOutOfDate):
            await old.check_schema()
    finally:
        await old.close()
        await _pg(pg_url, "UPDATE alembic_version SET version_num = $1", SCHEMA_HEAD)
    assert describe("postgresql://u:s3cret@h:5/db") == "postgresql://u:***@h:5/db"
    assert postgres_dsn("postgresql+asyncpg://u@h/db") == "postgresql://u@h/db"
    assert postgres_dsn("sqlite:///x.db") is None


def test_the_import_command_takes_copy_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    asyncio.run(_pg_db(pg_url))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")},
        "CAMPAIGND_DB__URL": pg_url,
        "CAMPAIGND_SECURITY__SECRET": "0123456789abcdef0123456789abcdef",
    }
    csv_file = tmp_path / "s.csv"
    csv_file.write_text("email,name\na@example.com,A\nb@example.com,B\n", encoding="utf-8")
    probe = (
        "import sys\n"
        "sys.argv = ['campaignd', 'subscribers', 'import', sys.argv[1], '--list', 'news']\n"
        "from campaignd.cli.main import main\n"
        "try:\n    main()\n"
        "finally:\n    print('SQLALCHEMY', 'sqlalchemy' in sys.modules,"
        " 'COPY', 'campaignd.db.postgres.copysql' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(csv_file)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "inserted   2" in done.stdout, done.stderr
    assert "SQLALCHEMY False COPY True" in done.stdout
