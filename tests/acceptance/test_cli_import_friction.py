"""`subscribers import` frictions of issue 17: hints for the delimiter and the encoding, binary
files, duplicates naming their first line, the summary's words. Both import paths (SQLite's
writer process, PostgreSQL's generic store) give the same text."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from tests.acceptance.test_cli_import_hostile import Db


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Db:
    if request.param == "sqlite":
        return Db(str(request.getfixturevalue("sqlite_url")))
    return Db(str(request.getfixturevalue("pg_server_url")))


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("separator", "hint"), [(";", "--delimiter ';'"), ("\t", "--delimiter '\\t'")]
)
def test_a_header_split_by_another_delimiter_names_it(
    tmp_path: Path, sqlite_url: str, separator: str, hint: str
) -> None:
    db = Db(sqlite_url)
    path = tmp_path / "x.csv"
    path.write_text(f"email{separator}name\n{db.email(1)}{separator}A\n", encoding="utf-8")
    done = db.run(str(path))
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert "no 'email' column" in line
    assert line.endswith(hint), line
    assert db.subscribers([db.email(1)]) == {}


def test_latin1_file_with_and_without_encoding(db: Db, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(f"email,name\n{db.email(1)},Zoë Ørsted\n".encode("latin-1"))
    done = db.run(str(path), "--json")
    out = json.loads(done.stdout)
    assert out["errors"] == 1
    sample = out["error_samples"][0]
    assert sample["line"] == 2
    assert "not valid UTF-8" in sample["error"]
    assert "--encoding" in sample["error"]
    done = db.run(str(path), "--encoding", "latin-1", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["inserted"] == 1
    assert db.subscribers([db.email(1)])[db.email(1)][0] == "Zoë Ørsted"
    cp = tmp_path / "cp.csv"
    cp.write_bytes(f"email,name\n{db.email(2)},“Quoted” – €\n".encode("cp1252"))
    assert db.run(str(cp), "--encoding", "cp1252").returncode == 0
    assert db.subscribers([db.email(2)])[db.email(2)][0] == "“Quoted” – €"


def test_unknown_encoding_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    db = Db(sqlite_url)
    path = tmp_path / "x.csv"
    path.write_text(f"email\n{db.email(1)}\n", encoding="utf-8")
    for name in ("latin-9000", "base64"):
        done = db.run(str(path), "--encoding", name)
        assert done.returncode == 2
        assert f"'{name}'" in done.stderr
        assert "--encoding" in done.stderr
    assert db.subscribers([db.email(1)]) == {}


def test_binary_files_get_one_line(tmp_path: Path, sqlite_url: str) -> None:
    db = Db(sqlite_url)
    png = tmp_path / "subscribers.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(64))
    xlsx = tmp_path / "subscribers.xlsx"
    with zipfile.ZipFile(xlsx, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    blob = tmp_path / "subscribers.csv"
    blob.write_bytes(b"email\x00\x01\x02\xff" * 50)
    for path, what in ((png, "a PNG image"), (xlsx, "an Excel workbook"), (blob, "NUL bytes")):
        done = db.run(str(path))
        assert done.returncode == 1
        line = _one_line(done.stderr)
        assert "not a text CSV file: looks like" in line and what in line, line
        assert "export it as CSV" in line
        assert "\\x" not in line


def test_duplicates_name_the_first_line_and_summary_words(db: Db, tmp_path: Path) -> None:
    a, b = db.email(1), db.email(2)
    rows = [a, b, db.email(3), a.upper(), db.email(4), b]
    path = tmp_path / "x.csv"
    path.write_text("email\n" + "\n".join(rows) + "\n", encoding="utf-8")
    done = db.run(str(path), "--list", db.list)
    assert done.returncode == 0, done.stderr
    assert "line 5: duplicate address: already on line 2" in done.stderr
    assert "line 7: duplicate address: already on line 3" in done.stderr
    words = re.findall(r"^  (\w+) +\d+", done.stdout, re.MULTILINE)
    assert words == ["rows", "inserted", "updated", "skipped", "errors", "duplicates", "failed"]
    as_json = json.loads(db.run(str(path), "--list", db.list, "--json").stdout)
    assert [w for w in words if w in as_json] == words
