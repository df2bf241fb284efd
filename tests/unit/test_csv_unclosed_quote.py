"""A quote left open on one row (issue 15): that row is reported, every other row still read."""

from __future__ import annotations

import asyncio
import gzip
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignd.domain import OptIn
from campaignd.importing.csvfile import MAX_RECORD, CsvFile
from campaignd.importing.csvrows import Columns, RowError, check_row
from campaignd.importing.pipeline import run_import
from campaignd.importing.report import ImportRequest
from campaignd.store.memory import MemoryStore

HEADER = ["email", "name", "attributes", "extra"]
Read = list[tuple[int, list[str]] | RowError]


def good_cells(n: int) -> list[str]:
    return [f"user{n}@example.com", f"Name {n}", f'{{"n": {n}}}', f"x{n}"]


def encode(cells: list[str]) -> str:
    """A row as a spreadsheet writes it: quoted when it holds a quote, or a name a comma."""
    out = []
    for i, cell in enumerate(cells):
        if (i == 1 and "," in cell) or '"' in cell:
            cell = '"' + cell.replace('"', '""') + '"'
        out.append(cell)
    return ",".join(out)


def build(rows: int, broken: dict[int, str], newline: str = "\n", last_newline: bool = True) -> str:
    """A file of `rows` good rows, row k replaced by broken[k]; row k is on line k + 1."""
    lines = [",".join(HEADER)]
    for n in range(1, rows + 1):
        if n in broken:
            lines.append(broken[n])
            continue
        cells = good_cells(n)
        if n % 3 == 0:
            cells[1] = f"Smith, {n}"
        lines.append(encode(cells))
    return newline.join(lines) + (newline if last_newline else "")


def expected_good(rows: int, broken: set[int]) -> list[tuple[int, list[str]]]:
    out = []
    for n in range(1, rows + 1):
        if n in broken:
            continue
        cells = good_cells(n)
        if n % 3 == 0:
            cells[1] = f"Smith, {n}"
        out.append((n + 1, cells))
    return out


def write(tmp_path: Path, text: str, container: str) -> Path:
    data = text.encode("utf-8")
    if container == "gz":
        path = tmp_path / "x.csv.gz"
        path.write_bytes(gzip.compress(data))
    elif container == "zip":
        path = tmp_path / "x.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("x.csv", data)
    else:
        path = tmp_path / "x.csv"
        path.write_bytes(data)
    return path


def read(path: Path) -> Read:
    with CsvFile(path) as source:
        return list(source.rows())


def split(rows: Read) -> tuple[list[tuple[int, list[str]]], list[RowError]]:
    good = [r for r in rows if not isinstance(r, RowError)]
    bad = [r for r in rows if isinstance(r, RowError)]
    return good, bad


# The row of user5 with a quote opened and never closed, in each column.
BROKEN_ROW5 = {
    "email": '"user5@example.com,Name 5,{},x5',
    "name": 'user5@example.com,"Name 5,{},x5',
    "attributes": 'user5@example.com,Name 5,"{""n"": 5},x5',
    "extra": 'user5@example.com,Name 5,{},"x5',
    "mid-name": 'user5@example.com,Name "5,{},"x5',  # a stray quote, then an open one
}


@pytest.mark.parametrize("column", list(BROKEN_ROW5))
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("container", ["csv", "gz", "zip"])
def test_unclosed_quote_reports_its_line_and_keeps_every_other_row(
    tmp_path: Path, column: str, newline: str, container: str
) -> None:
    path = write(tmp_path, build(37, {5: BROKEN_ROW5[column]}, newline), container)
    good, bad = split(read(path))
    assert good == expected_good(37, {5})
    assert [e.line for e in bad] == [6]
    assert bad[0].error.startswith("quote never closed")
    assert "user5@example.com" in bad[0].raw


@pytest.mark.parametrize("last_newline", [True, False])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_unclosed_quote_on_the_last_row(tmp_path: Path, newline: str, last_newline: bool) -> None:
    broken = {37: 'user37@example.com,"Name 37,{},x37'}
    path = write(tmp_path, build(37, broken, newline, last_newline), "csv")
    good, bad = split(read(path))
    assert good == expected_good(37, {37})
    assert [(e.line, e.error) for e in bad] == [
        (38, "quote never closed: a quoted field on this line runs to the end of the file")
    ]


def test_unclosed_quote_before_rows_that_are_bad_themselves(tmp_path: Path) -> None:
    # The rows swallowed before a good one are each reported with their own line.
    text = (
        "email,name\n"
        'a@example.com,"open\n'
        "not-an-address,B\n"
        "c@example.com,C,too many\n"
        "d@example.com,D\n"
    )
    path = write(tmp_path, text, "csv")
    rows = read(path)
    assert rows[0] == RowError(
        2,
        "quote never closed: a quoted field on this line runs on into the rows after it; "
        "lines 3-5 are read as rows of their own",
        'a@example.com,"open',
    )
    assert rows[1:] == [
        (3, ["not-an-address", "B"]),
        (4, ["c@example.com", "C", "too many"]),
        (5, ["d@example.com", "D"]),
    ]


def test_a_stray_quote_cannot_close_an_open_one(tmp_path: Path) -> None:
    # Row 3 holds a quote in the middle of a cell: read on its own it is a good row, so it
    # must not end row 2's open field (which would make row 3 part of row 2's name).
    text = 'email,name\na@example.com,"Ann\nb@example.com,Bob "the builder"\nc@example.com,C\n'
    good, bad = split(read(write(tmp_path, text, "csv")))
    assert good == [
        (3, ["b@example.com", 'Bob "the builder"']),
        (4, ["c@example.com", "C"]),
    ]
    assert [e.line for e in bad] == [2]


def test_a_quote_closed_improperly_on_a_later_line(tmp_path: Path) -> None:
    # Line 3 is no row (a bad address), and its quote ends line 2's field with text after it.
    text = 'email,name\na@example.com,"Ann\nnope,"B" c\nd@example.com,D\n'
    rows = read(write(tmp_path, text, "csv"))
    assert isinstance(rows[0], RowError)
    assert rows[0].line == 2
    assert rows[0].error.startswith("quote never closed properly")
    assert rows[1:] == [(3, ["nope", "B c"]), (4, ["d@example.com", "D"])]


def test_fields_over_several_lines_are_still_read(tmp_path: Path) -> None:
    text = (
        "email,name,attributes\r\n"
        'a@example.com,"two\r\nlines","{\r\n  ""city"": ""Paris""\r\n}"\r\n'
        'b@example.com,"ends with a break\r\n",{}\r\n'
        "c@example.com,C,{}\r\n"
    )
    assert read(write(tmp_path, text, "csv")) == [
        (2, ["a@example.com", "two\r\nlines", '{\r\n  "city": "Paris"\r\n}']),
        (6, ["b@example.com", "ends with a break\r\n", "{}"]),
        (8, ["c@example.com", "C", "{}"]),
    ]


def test_an_open_quote_in_a_huge_file_is_cut_short(tmp_path: Path) -> None:
    # No line after the open quote reads as a row: the record ends at the csv module's field
    # limit and its lines are read again one by one, so the good row at the end is still there.
    path = tmp_path / "x.csv"
    filler = b"more text,\n"
    count = 20_000  # 220 KB in one quoted field
    with path.open("wb") as fh:
        fh.write(b'email,name\na@example.com,"never closed\n')
        fh.write(filler * count)
        fh.write(b"z@example.com,Z\n")
    rows = read(path)
    assert isinstance(rows[0], RowError)
    assert rows[0].line == 2
    assert rows[0].error.startswith("quote never closed? a quoted field on this line runs on")
    assert "field limit" in rows[0].error
    assert rows[-1] == (count + 3, ["z@example.com", "Z"])
    assert len(rows) == count + 2  # every line after the header: one row or one error


def test_a_record_of_many_quoted_fields_is_cut_at_max_record(tmp_path: Path) -> None:
    # Each line closes a quoted field and opens the next: no field reaches the field limit,
    # the record does reach MAX_RECORD.
    path = tmp_path / "x.csv"
    filler = b"x" * 1000 + b'","\n'
    count = MAX_RECORD // len(filler) + 100
    with path.open("wb") as fh:
        fh.write(b'email,name\na@example.com,"never closed\n')
        fh.write(filler * count)
        fh.write(b"z@example.com,Z\n")
    rows = read(path)
    assert isinstance(rows[0], RowError)
    assert rows[0].line == 2
    assert f"runs on for more than {MAX_RECORD} characters" in rows[0].error
    assert rows[-1] == (count + 3, ["z@example.com", "Z"])
    assert all(isinstance(r, RowError) for r in rows[:-1])


def test_an_open_quote_in_the_header_is_a_file_error(tmp_path: Path) -> None:
    from campaignd.errors import InvalidInput

    path = write(tmp_path, 'email,"name\na@example.com,A\n', "csv")
    with pytest.raises(InvalidInput, match="header row cannot be read: quote never closed"):
        read(path)


def test_import_of_37_rows_with_an_open_quote_on_row_5(tmp_path: Path) -> None:
    # The report of the issue: 36 rows must be imported, row 5 reported by its line.
    path = write(tmp_path, build(37, {5: BROKEN_ROW5["name"]}), "csv")

    async def scenario() -> None:
        store = MemoryStore()
        await store.create_list("l", OptIn.SINGLE, "")
        errors: list[RowError] = []
        report = await run_import(
            store, ImportRequest(path, lists=("l",), batch_size=10), on_errors=errors.extend
        )
        assert (report.rows, report.inserted, report.errors) == (37, 36, 1)
        assert report.complete
        assert [e.line for e in errors] == [6]
        assert "quote never closed" in errors[0].error
        for n in range(1, 38):
            if n != 5:
                sub = await store.get_subscriber(f"user{n}@example.com")
                assert "\n" not in sub.name
        [the_list] = await store.lists()
        assert the_list.subscriber_count == 36

    asyncio.run(scenario())


# -- property: an open quote anywhere costs its own row only ----------------------------------

_CELL = st.text(alphabet='ab ,;"\t@.', max_size=6)
_ADDRESS = st.sampled_from(["a@example.com", "b.c@example.org", "no-at", ""])


def _quoted(cell: str, delimiter: str, force: bool) -> str:
    if force or any(c in cell for c in (delimiter, '"')):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@st.composite
def files_with_an_open_quote(draw: st.DrawFn) -> tuple[str, str, int]:
    """(text, delimiter, line of the row whose quote never closes)."""
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [delimiter.join(["email", "name", "attributes"])]
    for _ in range(draw(st.integers(1, 12))):
        cells = [draw(_ADDRESS), draw(_CELL), draw(_CELL)]
        cells = cells[: draw(st.integers(2, 3))]
        lines.append(delimiter.join(_quoted(c, delimiter, draw(st.booleans())) for c in cells))
    plain = st.text(alphabet="ab @.", max_size=6)
    cells = [draw(_ADDRESS), draw(plain), draw(plain)]
    column = draw(st.integers(0, 2))
    cells[column] = '"' + cells[column]  # opened, never closed on its line
    at = draw(st.integers(1, len(lines)))
    lines.insert(at, delimiter.join(cells))
    return newline.join(lines) + draw(st.sampled_from(["", newline])), delimiter, at + 1


def _good(rows: Read, columns: Columns, delimiter: str) -> list[tuple[int, list[str]]]:
    """The rows the import would store: read, and valid (csvrows.check_row)."""
    return [
        r
        for r in rows
        if not isinstance(r, RowError)
        and not isinstance(check_row(r[1], columns, r[0], delimiter), RowError)
    ]


@settings(max_examples=200, deadline=None)
@given(case=files_with_an_open_quote())
def test_an_open_quote_anywhere_loses_no_other_good_row(case: tuple[str, str, int]) -> None:
    text, delimiter, broken = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.csv"
        path.write_text(text, encoding="utf-8", newline="")
        with CsvFile(path, delimiter) as source:
            got = list(source.rows())
            columns = source.columns
        # The same file with the broken row's line left blank: how every other line reads.
        lines = text.splitlines(keepends=True)
        ending = lines[broken - 1][len(lines[broken - 1].rstrip("\r\n")) :]
        lines[broken - 1] = ending or "\n"
        path.write_text("".join(lines), encoding="utf-8", newline="")
        with CsvFile(path, delimiter) as source:
            alone = list(source.rows())
    assert columns is not None
    good = _good(got, columns, delimiter)
    assert broken not in [line for line, _ in good]  # the broken row is never imported
    assert good == _good(alone, columns, delimiter)  # nor anything but the other good rows
