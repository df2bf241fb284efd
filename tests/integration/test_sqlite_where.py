"""A SQLite URL naming no file yet: a relative path is explained (relative to the current
directory, systemd's WorkingDirectory) and a missing directory is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaignd.db.head import missing_database
from campaignd.errors import SchemaOutOfDate
from campaignd.store.sql import SqlStore
from campaignd.store.sqlite_import import SqliteImportStore


def test_a_relative_path_in_a_missing_directory_is_explained(tmp_path: Path) -> None:
    line = missing_database("data/c.db", str(tmp_path))
    assert f"the database file {tmp_path}/data/c.db does not exist" in line
    assert f"(nor its directory {tmp_path}/data)" in line
    assert "sqlite:///data/c.db (three slashes) is relative to the current directory" in line
    assert "WorkingDirectory" in line
    assert f"four slashes, sqlite:///{tmp_path}/data/c.db" in line
    assert line.endswith("run `campaignd db upgrade` to create it")


def test_an_absolute_path_is_not_explained_as_relative(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    line = missing_database(str(tmp_path / "d" / "c.db"), "/elsewhere")
    assert line == (
        f"the database file {tmp_path}/d/c.db does not exist; run `campaignd db upgrade` to "
        "create it"
    )


@pytest.mark.parametrize("light", [False, True])
async def test_both_sqlite_stores_say_it_for_a_relative_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, light: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    store = (
        SqliteImportStore(Path("nodir/c.db"))
        if light
        else await SqlStore.open("sqlite:///nodir/c.db")
    )
    try:
        with pytest.raises(SchemaOutOfDate) as info:
            await store.check_schema()
    finally:
        await store.close()
    assert "(nor its directory" in str(info.value)
    assert "relative to the current directory" in str(info.value)
    assert not (tmp_path / "nodir").exists()
