"""campaignd.store.sqlite_import: `subscribers import` on a SQLite file without SQLAlchemy."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from campaignd.db.engine import sqlite_path
from campaignd.domain import OptIn
from campaignd.errors import NotFound, SchemaOutOfDate, StoreError
from campaignd.store.sql import SqlStore, upgrade_schema
from campaignd.store.sqlite_import import SqliteImportStore, plain_sqlite_file


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///c.db",
        "sqlite:////var/lib/campaignd/c.db",
        "SQLite:///data/c.db",
        "sqlite+aiosqlite:////tmp/x/c.db",
        "sqlite:///./rel/dir/c.db",
    ],
)
def test_plain_file_urls_name_the_same_file_as_sqlalchemy(url: str) -> None:
    assert plain_sqlite_file(url) == sqlite_path(url) is not None


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:c.db?mode=memory&uri=true",
        "sqlite:///c.db?timeout=5",
        "sqlite:///my%20db.db",
        "postgresql://u@127.0.0.1/db",
    ],
)
def test_anything_else_takes_the_sqlalchemy_path(url: str) -> None:
    assert plain_sqlite_file(url) is None


async def test_lists_and_schema_as_the_sql_store_sees_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    await upgrade_schema(url)
    sql = await SqlStore.open(url)
    light = SqliteImportStore(tmp_path / "c.db")
    try:
        news = await sql.create_list("news", OptIn.DOUBLE, "weekly")
        await light.check_schema()
        assert await light.get_list("news") == await sql.get_list("news") == news
        with pytest.raises(NotFound, match="'nope'"):
            await light.get_list("nope")
    finally:
        await sql.close()
        await light.close()


async def test_a_missing_old_or_broken_database_is_refused_and_not_created(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(SchemaOutOfDate, match="campaignd db upgrade"):
        await SqliteImportStore(missing).check_schema()
    assert not missing.exists()

    old = tmp_path / "old.db"
    await upgrade_schema(f"sqlite:///{old}")
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    with pytest.raises(SchemaOutOfDate):
        await SqliteImportStore(old).check_schema()

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(SchemaOutOfDate):
        await SqliteImportStore(empty).check_schema()

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a database"):
        await SqliteImportStore(broken).check_schema()


def test_the_import_command_never_loads_sqlalchemy_on_sqlite(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CAMPAIGND_DB__URL": f"sqlite:///{tmp_path / 'c.db'}",
        "CAMPAIGND_SECURITY__SECRET": "0123456789abcdef0123456789abcdef",
    }
    for args in (["db", "upgrade"], ["lists", "create", "news"]):
        subprocess.run([sys.executable, "-m", "campaignd", *args], env=env, check=True)
    csv_file = tmp_path / "s.csv"
    csv_file.write_text("email,name\na@example.com,A\nb@example.com,B\n", encoding="utf-8")
    probe = (
        "import sys\n"
        "sys.argv = ['campaignd', 'subscribers', 'import', sys.argv[1], '--list', 'news']\n"
        "from campaignd.cli.main import main\n"
        "try:\n    main()\n"
        "finally:\n    print('SQLALCHEMY', 'sqlalchemy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(csv_file)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "inserted   2" in done.stdout, done.stderr
    assert "SQLALCHEMY False" in done.stdout
