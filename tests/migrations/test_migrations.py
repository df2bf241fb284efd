"""The migration chain builds exactly the models' schema on SQLite and PostgreSQL, idempotently."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from campaignd.db import tables
from campaignd.db.engine import create_engine
from campaignd.db.migrate import head_revision, upgrade
from campaignd.domain import OptIn
from campaignd.errors import SchemaOutOfDate
from campaignd.store.sql import SqlStore


def _diff(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, tables.metadata))


async def schema_diff(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


async def _pg(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def empty_pg_url(pg_server_url: str) -> Iterator[str]:
    """A brand-new empty PostgreSQL database (the run's database is already migrated)."""
    name = f"campaignd_mig_{secrets.token_hex(4)}"
    asyncio.run(_pg(pg_server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{pg_server_url.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_pg(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new' / 'dir' / 'campaignd.db'}"
    return str(request.getfixturevalue("empty_pg_url"))


async def test_upgrade_builds_the_models_schema_and_is_idempotent(empty_url: str) -> None:
    store = await SqlStore.open(empty_url)
    try:
        with pytest.raises(SchemaOutOfDate, match="campaignd db upgrade"):
            await store.check_schema()
        if not empty_url.startswith("sqlite"):  # (the SQLite file's directory does not exist)
            assert len(await schema_diff(empty_url)) >= len(tables.metadata.tables)
        assert await upgrade(empty_url) == head_revision()
        assert await schema_diff(empty_url) == []
        await store.check_schema()
        created = await store.create_list("kept", OptIn.SINGLE, "")

        assert await upgrade(empty_url) == head_revision()  # a second run changes nothing
        assert await schema_diff(empty_url) == []
        assert [m.id for m in await store.lists()] == [created.id]
    finally:
        await store.close()


async def test_check_schema_refuses_a_database_behind_head(sqlite_url: str) -> None:
    await upgrade(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'older'")
    store = await SqlStore.open(sqlite_url)
    try:
        with pytest.raises(SchemaOutOfDate, match="run `campaignd db upgrade`"):
            await store.check_schema()
    finally:
        await store.close()


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    env["CAMPAIGND_DB__URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "campaignd", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_refuses_an_empty_database_and_names_the_upgrade_command(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.db"
    result = _cli(f"sqlite:///{missing}", "lists", "ls")
    assert result.returncode == 1
    assert "campaignd db upgrade" in result.stderr
    assert not missing.exists()  # refusing does not create a database file

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    result = _cli(f"sqlite:///{empty}", "subscribers", "add", "a@example.com")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: database schema is out of date (or empty): run `campaignd db upgrade`"
    )


def test_schema_head_constant_matches_the_migration_chain() -> None:
    from campaignd.db.revision import SCHEMA_HEAD

    assert head_revision() == SCHEMA_HEAD


async def test_0005_gives_existing_lists_a_uuid_each_and_keeps_everything_private(
    empty_url: str,
) -> None:
    """Lists made before 0005 get distinct uuids; they and older campaigns stay non-public."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import text

    from campaignd.db.migrate import alembic_config

    def to_0003(connection: Any) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")

    if empty_url.startswith("sqlite"):
        Path(empty_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(empty_url)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(to_0003)
            for name in ("a", "b", "c"):
                await conn.execute(
                    text(
                        "INSERT INTO lists (name, optin, description, created_at, updated_at) "
                        "VALUES (:n, 'single', '', :t, :t)"
                    ),
                    {"n": name, "t": now},
                )
    finally:
        await engine.dispose()
    assert await upgrade(empty_url) == head_revision()
    assert await schema_diff(empty_url) == []
    store = await SqlStore.open(empty_url)
    try:
        found = await store.lists()
        assert [(m.name, m.public) for m in found] == [("a", False), ("b", False), ("c", False)]
        assert len({m.uuid for m in found}) == 3 and None not in {m.uuid for m in found}
        made = await store.create_list("d", OptIn.SINGLE, "", public=True)
        assert made.uuid not in {m.uuid for m in found}
    finally:
        await store.close()
