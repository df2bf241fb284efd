"""`campaignd subscribers import` on the files of issue 15, run as a real command.

SQLite takes the import's fast path (a writer process, no SQLAlchemy), PostgreSQL its COPY
path (db/postgres): both must give the same outcome.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from campaignd.domain import OptIn


async def _prepare(url: str, list_name: str) -> None:
    from campaignd.db.migrate import upgrade
    from campaignd.store.sql import SqlStore

    await upgrade(url)
    store = await SqlStore.open(url)
    try:
        await store.create_list(list_name, OptIn.SINGLE, "")
    finally:
        await store.close()


async def _subscribers(url: str, emails: list[str]) -> dict[str, Any]:
    from campaignd.errors import NotFound
    from campaignd.store.sql import SqlStore

    store = await SqlStore.open(url)
    out: dict[str, Any] = {}
    try:
        for email in emails:
            try:
                sub = await store.get_subscriber(email)
            except NotFound:
                continue
            out[email] = (sub.name, dict(sub.attributes))
    finally:
        await store.close()
    return out


class Db:
    """One database for one test, with names of its own (the PostgreSQL one is shared)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.tag = secrets.token_hex(4)
        self.list = f"news-{self.tag}"
        asyncio.run(_prepare(url, self.list))
        clean = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
        self.env = {**clean, "CAMPAIGND_DB__URL": url, "CAMPAIGND_APP__BATCH_SIZE": "8"}

    def email(self, n: int) -> str:
        return f"user{n}@{self.tag}.example.com"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "campaignd", "subscribers", "import", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def subscribers(self, emails: list[str]) -> dict[str, Any]:
        return asyncio.run(_subscribers(self.url, emails))


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Db:
    if request.param == "sqlite":
        return Db(str(request.getfixturevalue("sqlite_url")))
    return Db(str(request.getfixturevalue("pg_server_url")))


def thirty_seven_rows(db: Db, path: Path) -> Path:
    """The file of the issue: 37 rows, row 5 (line 6) with a quote that is never closed."""
    lines = ["email,name,attributes"]
    for n in range(1, 38):
        if n == 5:
            lines.append(f'{db.email(n)},"Name {n},')
            continue
        name = f'"Lee, {n}"' if n % 3 == 0 else f"Name {n}"
        lines.append(f'{db.email(n)},{name},"{{""n"": {n}}}"')
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("container", ["csv", "gz"])
def test_an_unclosed_quote_on_row_5_of_37(db: Db, tmp_path: Path, container: str) -> None:
    path = thirty_seven_rows(db, tmp_path / "subscribers.csv")
    if container == "gz":
        gz = tmp_path / "subscribers.csv.gz"
        gz.write_bytes(gzip.compress(path.read_bytes()))
        path = gz
    done = db.run(str(path), "--list", db.list)
    assert done.returncode == 0, done.stderr
    assert f"{path}:\n  rows       37\n" in done.stdout
    assert "inserted   36" in done.stdout
    assert "errors     1" in done.stdout
    assert "line 6: quote never closed" in done.stderr
    assert "Traceback" not in done.stderr
    emails = [db.email(n) for n in range(1, 38)]
    found = db.subscribers(emails)
    assert sorted(found) == sorted(e for e in emails if e != db.email(5))
    for n in (3, 4, 6, 37):
        name = f"Lee, {n}" if n % 3 == 0 else f"Name {n}"
        assert found[db.email(n)] == (name, {"n": n})


def test_an_unclosed_quote_on_the_last_row_json(db: Db, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(f'email,name\n{db.email(1)},A\n{db.email(2)},"B', encoding="utf-8")
    done = db.run(str(path), "--list", db.list, "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["rows"], out["inserted"], out["errors"]) == (2, 1, 1)
    [sample] = out["error_samples"]
    assert sample["line"] == 3
    assert sample["error"].startswith("quote never closed")


def test_overwrite_info_keeps_what_the_file_has_no_column_for(db: Db, tmp_path: Path) -> None:
    a = db.email(1)
    full = tmp_path / "full.csv"
    full.write_text(f'email,name,attributes\n{a},Ann,"{{""city"": ""Oslo""}}"\n', encoding="utf-8")
    assert db.run(str(full)).returncode == 0
    names = tmp_path / "names.csv"
    names.write_text(f"email,name\n{a},Ann Lee\n", encoding="utf-8")
    done = db.run(str(names), "--overwrite-info")
    assert done.returncode == 0, done.stderr
    assert "updated    1" in done.stdout
    assert db.subscribers([a])[a] == ("Ann Lee", {"city": "Oslo"})
    only = tmp_path / "only.csv"
    only.write_text(f"email\n{a}\n", encoding="utf-8")
    done = db.run(str(only), "--overwrite-info")
    assert "skipped    1" in done.stdout
    assert db.subscribers([a])[a] == ("Ann Lee", {"city": "Oslo"})
    cleared = tmp_path / "cleared.csv"
    cleared.write_text(f"email,attributes\n{a},\n", encoding="utf-8")
    assert db.run(str(cleared), "--overwrite-info").returncode == 0
    assert db.subscribers([a])[a] == ("Ann Lee", {})


def _one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0]


def test_broken_archives_give_one_clear_line(tmp_path: Path, sqlite_url: str) -> None:
    db = Db(sqlite_url)
    encrypted = tmp_path / "locked.zip"
    with zipfile.ZipFile(encrypted, "w") as archive:
        archive.writestr("subscribers.csv", f"email\n{db.email(1)}\n")
    data = bytearray(encrypted.read_bytes())
    data[data.find(b"PK\x03\x04") + 6] |= 1  # the encrypted flag, as `zip -e` sets it
    data[data.find(b"PK\x01\x02") + 8] |= 1
    encrypted.write_bytes(bytes(data))
    _one_line_error(db.run(str(encrypted)), "locked.zip", "encrypted")

    several = tmp_path / "several.zip"
    with zipfile.ZipFile(several, "w") as archive:
        archive.writestr("a.csv", f"email\n{db.email(1)}\n")
        archive.writestr("b.csv", f"email\n{db.email(2)}\n")
    _one_line_error(db.run(str(several)), "2 .csv files", "'a.csv', 'b.csv'")

    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("notes.txt", "email\n")
    _one_line_error(db.run(str(empty)), "no .csv file", "notes.txt")

    damaged = tmp_path / "damaged.csv.gz"
    damaged.write_bytes(b"\x1f\x8b\x08\x00garbage, not deflate data")
    _one_line_error(db.run(str(damaged)), "damaged.csv.gz", "damaged")
    assert db.subscribers([db.email(1), db.email(2)]) == {}
