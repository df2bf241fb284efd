"""`campaignd subscribers import` run as a real command in a subprocess."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from campaignd.domain import OptIn

SAMPLE = Path(__file__).parents[2] / "campaignd" / "devtools" / "samples" / "subscribers.csv"


async def _prepare(url: str, lists: tuple[str, ...]) -> None:
    from campaignd.db.migrate import upgrade
    from campaignd.store.sql import SqlStore

    await upgrade(url)
    store = await SqlStore.open(url)
    try:
        for name in lists:
            await store.create_list(name, OptIn.SINGLE, "")
    finally:
        await store.close()


async def _subscriber(url: str, email: str) -> object:
    from campaignd.errors import NotFound
    from campaignd.store.sql import SqlStore

    store = await SqlStore.open(url)
    try:
        return await store.get_subscriber(email)
    except NotFound:
        return None
    finally:
        await store.close()


@pytest.fixture
def env(sqlite_url: str) -> dict[str, str]:
    asyncio.run(_prepare(sqlite_url, ("news",)))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    return {**clean, "CAMPAIGND_DB__URL": sqlite_url, "CAMPAIGND_APP__BATCH_SIZE": "8"}


def campaignd(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campaignd", "subscribers", "import", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sample_json_twice(env: dict[str, str]) -> None:
    first = campaignd(env, str(SAMPLE), "--list", "news", "--json")
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert {k: out[k] for k in ("rows", "inserted", "updated", "skipped", "errors")} == {
        "rows": 50,
        "inserted": 41,
        "updated": 0,
        "skipped": 0,
        "errors": 9,
    }
    assert out["error_samples"][0]["line"] == 43
    assert "@-sign" in out["error_samples"][0]["error"]
    assert first.stderr == ""  # no progress bar when stderr is not a terminal

    second = json.loads(campaignd(env, str(SAMPLE), "--list", "news", "--json").stdout)
    assert (second["inserted"], second["updated"], second["skipped"]) == (0, 0, 41)


def test_human_summary_and_errors_file(env: dict[str, str], tmp_path: Path) -> None:
    errors = tmp_path / "errors.csv"
    done = campaignd(env, str(SAMPLE), "--list", "news", "--errors-file", str(errors))
    assert done.returncode == 0, done.stderr
    assert "inserted   41" in done.stdout
    assert "errors     9  (rows not imported, duplicates included)" in done.stdout
    assert "duplicates 2" in done.stdout
    assert "line 49: expected 4 columns, found 2" in done.stderr
    with errors.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["line", "error", "raw"]
    assert [int(r[0]) for r in rows[1:]] == [43, 44, 45, 46, 47, 48, 49, 50, 51]
    formula = next(r for r in rows if r[0] == "50")
    assert formula[2].startswith("'=HYPERLINK(")  # inert when opened in a spreadsheet
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)


def test_unknown_list_is_refused_before_writing(env: dict[str, str], sqlite_url: str) -> None:
    done = campaignd(env, str(SAMPLE), "--list", "news", "--list", "nope")
    assert done.returncode != 0
    assert "no list named 'nope'" in done.stderr
    assert asyncio.run(_subscriber(sqlite_url, "ada.lovelace@example.com")) is None


def test_no_email_column_names_the_columns(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("mail,full name\na@example.com,A\n", encoding="utf-8")
    done = campaignd(env, str(path))
    assert done.returncode != 0
    assert "no 'email' column" in done.stderr
    assert "'mail', 'full name'" in done.stderr


def test_unreadable_file(env: dict[str, str], tmp_path: Path) -> None:
    done = campaignd(env, str(tmp_path / "missing.csv"))
    assert done.returncode != 0
    assert "missing.csv" in done.stderr


def test_gzip_tab_delimited_blocklist(env: dict[str, str], tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbfname\temail\r\nSpam Mer\tspam@example.net\r\n"))
    done = campaignd(env, str(path), "--delimiter", "\\t", "--mode", "blocklist", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["inserted"] == 1
    sub = asyncio.run(_subscriber(sqlite_url, "spam@example.net"))
    assert getattr(sub, "status", None) == "blocklisted"


def test_bad_delimiter_is_a_usage_error(env: dict[str, str]) -> None:
    done = campaignd(env, str(SAMPLE), "--delimiter", ";;")
    assert done.returncode == 2
    assert "delimiter" in done.stderr
