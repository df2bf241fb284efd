"""CSV rows: header columns, row validation, and reading files (encodings, newlines, archives)."""

from __future__ import annotations

import gzip
import re
import zipfile
from pathlib import Path

import pytest

from campaignd.errors import InvalidInput
from campaignd.importing.csvfile import MAX_LINE, CsvFile, parse_delimiter
from campaignd.importing.csvrows import (
    Columns,
    ParsedRow,
    RowError,
    check_row,
    parse_attributes,
    parse_header,
    parse_row,
    raw_text,
)

COLS = parse_header(["email", "name", "attributes"])


def ok(cells: list[str], columns: Columns = COLS, line: int = 2) -> ParsedRow:
    row = parse_row(cells, columns, line)
    assert isinstance(row, ParsedRow), row
    return row


def bad(cells: list[str], columns: Columns = COLS, line: int = 2) -> RowError:
    row = parse_row(cells, columns, line)
    assert isinstance(row, RowError), row
    assert row.line == line
    return row


# -- header ---------------------------------------------------------------------------------


def test_header_any_order_case_bom_and_unknown_columns() -> None:
    cols = parse_header(["\ufeffUUID", " Attributes ", "NAME", "Email", "status", "created_at"])
    assert (cols.email, cols.name, cols.attributes, cols.status, cols.width) == (3, 2, 1, 4, 6)


def test_header_bom_on_email_itself() -> None:
    assert parse_header(["\ufeffemail"]).email == 0


def test_header_without_email_names_the_columns_found() -> None:
    with pytest.raises(InvalidInput, match=r"no 'email' column.*'mail', 'name'"):
        parse_header(["mail", "name"])


def test_header_with_email_twice() -> None:
    with pytest.raises(InvalidInput, match="twice"):
        parse_header(["email", "EMAIL"])


# -- rows -----------------------------------------------------------------------------------


def test_good_row() -> None:
    row = ok(["Jane@Example.com", " Jane ", '{"city": "Oslo", "n": [1, 2.5]}'])
    assert row.subscriber.email == "Jane@example.com"
    assert row.subscriber.name == "Jane"
    assert row.subscriber.attributes == {"city": "Oslo", "n": [1, 2.5]}
    assert not row.blocklisted


def test_empty_name_is_derived_and_empty_attributes_are_an_object() -> None:
    row = ok(["jane.doe@example.com", "", ""])
    assert row.subscriber.name == "Jane Doe"
    assert row.subscriber.attributes == {}


def test_only_email_column() -> None:
    row = ok(["a.b@example.com"], parse_header(["email"]))
    assert (row.subscriber.name, row.subscriber.attributes) == ("A B", {})


def test_formula_cells_are_data() -> None:
    row = ok(["x@example.com", '=HYPERLINK("http://evil")', '{"f": "@SUM(A1)"}'])
    assert row.subscriber.name == '=HYPERLINK("http://evil")'
    assert row.subscriber.attributes == {"f": "@SUM(A1)"}


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        (["not-an-address", "", ""], "invalid address"),
        (["", "x", ""], "empty"),
        (["a" * 300 + "@example.com", "", ""], "longer than 254"),
        (["x@example.com", "n" * 257, ""], "name is longer than 256"),
        (["x@example.com", "", '{"a": '], "not valid JSON"),
        (["x@example.com", "", "[1, 2]"], "must be a JSON object"),
        (["x@example.com", "", '"text"'], "must be a JSON object"),
        (["x@example.com", "", '{"a": NaN}'], "not valid JSON"),
        (["x@example.com", "", '{"a": 1e999}'], "out of range"),
        (["x@example.com", "", '{"a": ' + "9" * 5000 + "}"], "not valid JSON"),
        (["x@example.com", "", "[" * 100_000], "nested too deeply|not valid JSON|larger"),
        (["x@example.com", "", '{"a": "' + "x" * 70_000 + '"}'], "larger than 64 KB"),
        (["x@example.com", "", '{"a": "\\ud800"}'], "lone surrogate"),
        (["x@example.com", "", '{"a\\u0000": 1}'], "NUL"),
        (["x@example.com", "a\x00b", ""], "NUL byte"),
        (["x@example.com", "caf\udcc3", ""], "not valid UTF-8"),
        (["x@example.com", ""], "expected 3 columns, found 2"),
        (["x@example.com", "", "", ""], "expected 3 columns, found 4"),
    ],
)
def test_bad_rows_say_why(cells: list[str], reason: str) -> None:
    assert re.search(reason, bad(cells, line=7).error)
    assert check_row(cells, COLS, 7) == bad(cells, line=7)  # the bulk path says the same


@pytest.mark.parametrize(
    "cells",
    [
        ["Jane.Doe+news@EXAMPLE.com", "", ""],
        [" x@example.com ", " Zoë ", ' {"a": [1, {"b": null}]} '],
        ["x@example.com", "", " { } "],
        ["Info@example.com", "Info", "{}"],
    ],
)
def test_the_bulk_row_is_the_parsed_row(cells: list[str]) -> None:
    row = ok(cells)
    checked = check_row(cells, COLS, 2)
    assert not isinstance(checked, RowError)
    email, name, attributes, text, blocklisted = checked
    assert (email, name, attributes) == (
        row.subscriber.email,
        row.subscriber.name,
        row.subscriber.attributes,
    )
    assert (text, blocklisted) == (row.attributes_json, row.blocklisted)


def test_deep_nesting_does_not_crash() -> None:
    with pytest.raises(InvalidInput):
        parse_attributes('{"a": ' + "[" * 50_000 + "]" * 50_000 + "}")


def test_listmonk_export_statuses() -> None:
    cols = parse_header(
        ["uuid", "email", "name", "attributes", "status", "created_at", "updated_at"]
    )
    base = ["5f0c", "x@example.com", "X", "{}"]
    assert ok([*base, "enabled", "2024-01-01", "2024-01-01"], cols).blocklisted is False
    assert ok([*base, "blocklisted", "2024-01-01", "2024-01-01"], cols).blocklisted is True
    assert "disabled" in bad([*base, "disabled", "", ""], cols).error


def test_raw_text_is_readable_and_bounded() -> None:
    assert raw_text(["a", "b\x00", "caf\udcc3"]) == "a,b\\0,caf\ufffd"
    assert len(raw_text(["x" * 5000])) <= 1001


def test_delimiter() -> None:
    assert parse_delimiter("\\t") == "\t"
    assert parse_delimiter(";") == ";"
    for wrong in ("", ";;", '"', "\n"):
        with pytest.raises(InvalidInput):
            parse_delimiter(wrong)


# -- files ----------------------------------------------------------------------------------


def read(
    path: Path, delimiter: str = ","
) -> tuple[Columns, list[tuple[int, list[str]] | RowError]]:
    with CsvFile(path, delimiter) as source:
        assert source.columns is not None
        return source.columns, list(source.rows())


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_newlines_and_line_numbers(tmp_path: Path, newline: str) -> None:
    text = newline.join(
        ["email,name", "a@example.com,A", "", 'b@example.com,"two', 'lines"', "c@example.com,C", ""]
    )
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode())
    cols, rows = read(path)
    assert cols.width == 2
    assert rows == [
        (2, ["a@example.com", "A"]),
        (4, ["b@example.com", f"two{newline}lines"]),
        (6, ["c@example.com", "C"]),
    ]


def test_mixed_newlines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"email\r\na@example.com\rb@example.com\nc@example.com\r\n")
    _, rows = read(path)
    assert [r for r in rows if not isinstance(r, RowError)] == [
        (2, ["a@example.com"]),
        (3, ["b@example.com"]),
        (4, ["c@example.com"]),
    ]


def test_bom_gzip_and_tab(tmp_path: Path) -> None:
    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress("\ufeffEmail\tName\r\na@example.com\tA\r\n".encode()))
    cols, rows = read(path, "\t")
    assert cols.email == 0
    assert rows == [(2, ["a@example.com", "A"])]


def test_zip_csv_member(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", "not this")
        archive.writestr("export/subscribers.CSV", "email\na@example.com\n")
        archive.writestr("__MACOSX/export/._subscribers.CSV", b"\x00\x05\x16\x07")
    _, rows = read(path)
    assert rows == [(2, ["a@example.com"])]


def test_zip_with_several_csv_files_is_refused(tmp_path: Path) -> None:
    # Importing the first one only would drop the others' rows without a word.
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "email\na@example.com\n")
        archive.writestr("b.csv", "email\nb@example.com\n")
    with pytest.raises(InvalidInput, match=r"holds 2 \.csv files \('a\.csv', 'b\.csv'\)"):
        read(path)


def encrypted_zip(path: Path) -> Path:
    """A zip whose member is marked encrypted, as `zip -e` writes it (the flag is the test)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("subscribers.csv", "email\na@example.com\n")
    data = bytearray(path.read_bytes())
    data[data.find(b"PK\x03\x04") + 6] |= 1  # local header: general purpose flags
    data[data.find(b"PK\x01\x02") + 8] |= 1  # central directory entry: the same
    path.write_bytes(bytes(data))
    return path


def test_encrypted_zip_is_a_file_error(tmp_path: Path) -> None:
    path = encrypted_zip(tmp_path / "x.zip")
    with pytest.raises(InvalidInput, match=r"'subscribers\.csv' in the zip file is encrypted"):
        read(path)


def test_unsupported_zip_compression_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("subscribers.csv", "email\na@example.com\n")
    data = bytearray(path.read_bytes())
    for at in (data.find(b"PK\x03\x04") + 8, data.find(b"PK\x01\x02") + 10):
        data[at : at + 2] = (99).to_bytes(2, "little")  # AES, which zipfile cannot read
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match=r"cannot read 'subscribers\.csv' in the zip file"):
        read(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.csv.gz", b"\x1f\x8b\x08\x00garbage, not deflate data", "compressed data is damaged"),
        ("x.zip", b"PK\x03\x04" + b"\x00" * 40, "not a zip file"),
    ],
)
def test_damaged_archives_are_file_errors(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=f"cannot import .*{message}"):
        read(path)


def test_zip_without_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "email\n")
    with pytest.raises(InvalidInput, match=r"no \.csv file.*notes\.txt"):
        read(path)


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes("email\tname\r\nzoë@example.com\tZoë\r\n".encode("utf-16"))
    _, rows = read(path, "\t")
    assert rows == [(2, ["zoë@example.com", "Zoë"])]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\n\n", "empty"), (b"name,city\nx,y\n", "no 'email' column")],
)
def test_file_level_problems(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message):
        read(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot import"):
        read(tmp_path / "nope.csv")


def test_corrupt_gzip_stops_with_a_file_error(tmp_path: Path) -> None:
    body = gzip.compress(b"email\n" + b"a@example.com\n" * 50_000)
    path = tmp_path / "x.csv.gz"
    path.write_bytes(body[: len(body) // 2])
    with pytest.raises(InvalidInput, match="reading stopped after line"):
        read(path)


def test_undecodable_bytes_stay_in_their_row(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"email,name\na@example.com,caf\xe9\nb@example.com,ok\n")
    cols, rows = read(path)
    first, second = rows
    assert isinstance(first, tuple)
    assert "UTF-8" in bad(first[1], cols, first[0]).error
    assert second == (3, ["b@example.com", "ok"])


def test_overlong_line_is_reported_and_memory_bounded(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    with path.open("wb") as fh:
        fh.write(b"email,name\na@example.com,A\nb@example.com,")
        fh.write(b"x" * (3 * MAX_LINE))
        fh.write(b"\nc@example.com,C\n")
    _, rows = read(path)
    assert rows[0] == (2, ["a@example.com", "A"])
    assert isinstance(rows[1], RowError)
    assert rows[1].line == 3
    assert "longer than" in rows[1].error
    assert rows[2] == (4, ["c@example.com", "C"])


def test_unclosed_quote_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    with path.open("wb") as fh:
        fh.write(b'email,name\na@example.com,"never closed\n')
        fh.write(b"more text,\n" * 500_000)  # 5.5 MB inside one quoted field
    _, rows = read(path)
    errors = [r for r in rows if isinstance(r, RowError)]
    assert errors
    assert errors[0].line == 2
