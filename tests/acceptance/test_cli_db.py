"""`campaignd db upgrade` run as a real command: creates the database, idempotent."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from campaignd.db.migrate import head_revision


def campaignd(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    env["CAMPAIGND_DB__URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "campaignd", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_upgrade_creates_the_database_and_its_directory_then_is_idempotent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "var" / "lib" / "campaignd.db"
    url = f"sqlite:///{path}"
    first = campaignd(url, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"database: {url}",
        f"database schema at revision {head_revision()}",
    ]
    assert path.is_file()

    assert campaignd(url, "lists", "create", "news").returncode == 0
    again = campaignd(url, "db", "upgrade")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    listed = campaignd(url, "lists", "ls")
    assert "news" in listed.stdout  # the upgrade kept the data


def test_upgrade_reports_an_unusable_location(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = campaignd(f"sqlite:///{blocker}/sub/campaignd.db", "db", "upgrade")
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot create the directory")
    assert "Traceback" not in result.stderr


def test_a_new_sqlite_database_is_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "campaignd.db"
    old_umask = os.umask(0o022)  # the usual umask: SQLite alone would make the file 0644
    try:
        result = campaignd(f"sqlite:///{path}", "db", "upgrade")
    finally:
        os.umask(old_umask)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The WAL and shared-memory files SQLite creates next to it take the file's mode.
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE probe (x)")
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            assert stat.S_IMODE(side.stat().st_mode) == 0o600, suffix
    finally:
        conn.close()
    # An existing database keeps its mode (the operator may have chosen it).
    path.chmod(0o640)
    assert campaignd(f"sqlite:///{path}", "db", "upgrade").returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_upgrade_explains_a_relative_sqlite_path(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    env["CAMPAIGND_DB__URL"] = "sqlite:///data/c.db"
    (tmp_path / "data").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "campaignd", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "database: sqlite:///data/c.db"
    assert f"relative to the current directory: {tmp_path / 'data' / 'c.db'}" in lines[1]
    assert lines[2].endswith(f"sqlite:///{tmp_path / 'data' / 'c.db'}")
    assert "four slashes" in lines[2]
    assert (tmp_path / "data" / "c.db").is_file()


def test_upgrade_names_a_postgres_database_without_its_password(pg_server_url: str) -> None:
    scheme, _, rest = pg_server_url.partition("://")
    user, _, host = rest.partition("@")
    url = f"{scheme}://{user.partition(':')[0]}:s3cret-pw@{host}"
    done = campaignd(url, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "s3cret-pw" not in done.stdout + done.stderr
    assert (
        done.stdout.splitlines()[0] == f"database: {scheme}://{user.partition(':')[0]}:***@{host}"
    )
