"""Hostile CSV input (issue 6), property-based, against the in-memory store: the import never
crashes, every row is imported or reported with its line, the store holds exactly the good rows."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignd.addresses import address_key, name_from_email, normalize_email
from campaignd.domain import ImportCounts, ImportOptions, NewSubscriber, OptIn
from campaignd.errors import InvalidInput, NotFound
from campaignd.importing.csvrows import RowError
from campaignd.importing.pipeline import run_import
from campaignd.importing.report import ImportReport, ImportRequest
from campaignd.store.memory import MemoryStore

BAD_BYTE = "\ue000"  # written as the byte 0xff, which is never valid UTF-8
HOSTILE = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class CheckedStore(MemoryStore):
    """The in-memory twin, also checking the importer's promise of unique rows per batch."""

    async def import_batch(
        self, rows: Sequence[NewSubscriber], options: ImportOptions
    ) -> ImportCounts:
        keys = [address_key(r.email) for r in rows]
        assert len(set(keys)) == len(keys), "the importer must send unique rows"
        return await super().import_batch(rows, options)


async def make_store() -> CheckedStore:
    store = CheckedStore()
    await store.create_list("l", OptIn.SINGLE, "")
    return store


async def read(store: CheckedStore, email: str) -> tuple[str, dict[str, Any]] | None:
    try:
        sub = await store.get_subscriber(email)
    except NotFound:
        return None
    return sub.name, dict(sub.attributes)


# -- generating files whose every row has a known fate ----------------------------------------


@dataclass
class Row:
    cells: dict[str, str]  # by column name
    width_delta: int = 0  # cells added (+) or removed (-): a wrong column count
    valid: bool = True  # before duplicate detection


_LOCAL = st.from_regex(r"[a-z0-9]{1,6}(\.[a-z0-9_+-]{1,4})?", fullmatch=True)
_DOMAIN = st.sampled_from(
    ["example.com", "mail.example.org", "bücher.example", "XN--BCHER-KVA.example", "ex.co.uk"]
)
_EMAIL = st.builds(
    lambda local, domain, upper: f"{local}@{domain}".upper() if upper else f"{local}@{domain}",
    _LOCAL,
    _DOMAIN,
    st.booleans(),
)
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00" + BAD_BYTE),
    max_size=12,
)
_FORMULA = st.sampled_from(["=1+2", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", '=HYPERLINK("x")'])
_NAME = st.one_of(_TEXT, _FORMULA)
_ATTRS = st.dictionaries(
    st.text(max_size=5).filter(lambda s: "\x00" not in s),
    st.one_of(st.integers(), st.booleans(), st.none(), _TEXT, _FORMULA),
    max_size=3,
).map(lambda d: json.dumps(d, ensure_ascii=False) if d else "")


@st.composite
def rows(draw: st.DrawFn) -> Row:
    email, name, attributes = draw(_EMAIL), draw(_NAME), draw(_ATTRS)
    extra = draw(st.one_of(_TEXT, _FORMULA))
    good = Row({"email": email, "name": name, "attributes": attributes, "extra": extra})
    kind = draw(
        st.sampled_from(
            ["good", "good", "good", "address", "json", "nul", "bytes", "huge", "count", "space"]
        )
    )
    bad = Row(dict(good.cells), valid=False)
    if kind == "good":
        return good
    if kind == "space":  # surrounding spaces are trimmed, not an error
        good.cells["email"] = f"  {email} "
        return good
    if kind == "address":
        bad.cells["email"] = draw(
            st.one_of(_FORMULA, st.sampled_from(["", "a@b", "no-at", "x@y."]))
        )
    elif kind == "json":
        bad.cells["attributes"] = draw(
            st.sampled_from(['{"a":', "[1]", '"s"', '{"a": NaN}', '{"a":1}}', "{'a': 1}", "1e999"])
        )
    elif kind == "nul":
        bad.cells["name"] = name + "\x00"
    elif kind == "bytes":
        bad.cells[draw(st.sampled_from(["name", "extra"]))] = "caf" + BAD_BYTE
    elif kind == "huge":
        column = draw(st.sampled_from(["name", "attributes", "email"]))
        bad.cells[column] = {
            "name": "n" * 300,
            "attributes": json.dumps({"a": "x" * 70_000}),
            "email": "a" * 300 + "@example.com",
        }[column]
    else:
        bad.width_delta = draw(st.sampled_from([-2, -1, 1]))
    return bad


def _quote(cell: str, delimiter: str, force: bool) -> str:
    if force or any(c in cell for c in (delimiter, '"', "\r", "\n")):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@dataclass
class Generated:
    data: bytes
    delimiter: str
    lines: list[int]  # the line each row starts on
    rows: list[Row]


@st.composite
def csv_files(draw: st.DrawFn) -> Generated:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    order = draw(st.permutations(["email", "name", "attributes", "extra"]))
    header = [draw(st.sampled_from([c, c.upper(), f" {c.title()} "])) for c in order]
    generated = draw(st.lists(rows(), max_size=20))
    duplicates = draw(st.lists(st.integers(0, 19), max_size=4))
    for i in duplicates:  # later rows repeating an earlier address, in another case
        if i < len(generated):
            copy = Row(dict(generated[i].cells), generated[i].width_delta, generated[i].valid)
            copy.cells["email"] = copy.cells["email"].swapcase()
            generated.append(copy)
    text = ("\ufeff" if draw(st.booleans()) else "") + delimiter.join(header)
    lines: list[int] = []
    for row in generated:
        text += draw(st.sampled_from(["\n", "\r\n", "\r"]))
        lines.append(1 + len(re.findall(r"\r\n|\r|\n", text)))
        cells = [row.cells[c] for c in order]
        if row.width_delta < 0:
            cells = cells[: row.width_delta]
        cells += ["x"] * max(row.width_delta, 0)
        text += delimiter.join(_quote(c, delimiter, draw(st.booleans())) for c in cells)
    text += draw(st.sampled_from(["", "\n", "\r\n", "\r"]))
    data = text.encode("utf-8").replace(BAD_BYTE.encode("utf-8"), b"\xff")
    return Generated(data, delimiter, lines, generated)


def expected_outcome(gen: Generated) -> tuple[dict[str, tuple[str, dict[str, Any]]], set[int]]:
    """The subscribers the store must hold (by key) and the lines that must be reported."""
    imported: dict[str, tuple[str, dict[str, Any]]] = {}
    reported: set[int] = set()
    for line, row in zip(gen.lines, gen.rows, strict=True):
        if not row.valid:
            reported.add(line)
            continue
        email = normalize_email(row.cells["email"])
        key = address_key(email)
        if key in imported:
            reported.add(line)
            continue
        attributes = json.loads(row.cells["attributes"]) if row.cells["attributes"] else {}
        name = row.cells["name"].strip() or name_from_email(email)
        imported[key] = (name, attributes)
    return imported, reported


async def _import(store: Any, path: Path, delimiter: str) -> tuple[ImportReport, list[RowError]]:
    errors: list[RowError] = []
    report = await run_import(
        store,
        ImportRequest(path, lists=("l",), delimiter=delimiter, batch_size=4),
        on_errors=errors.extend,
    )
    return report, errors


def _balanced(report: ImportReport) -> bool:
    return report.rows == (
        report.inserted + report.updated + report.skipped + report.errors + report.failed
    )


@HOSTILE
@given(gen=csv_files())
def test_every_row_is_imported_or_reported(tmp_path: Path, gen: Generated) -> None:
    path = tmp_path / "hostile.csv"
    path.write_bytes(gen.data)
    imported, reported = expected_outcome(gen)

    async def scenario() -> None:
        store = await make_store()
        report, errors = await _import(store, path, gen.delimiter)
        assert report.complete
        assert _balanced(report)
        assert report.rows == len(gen.rows)
        assert {e.line for e in errors} == reported
        assert len(errors) == report.errors == len(reported)
        assert report.inserted == len(imported)
        for key, (name, attributes) in imported.items():
            assert await read(store, key) == (name, attributes)
        [the_list] = await store.lists()
        assert the_list.subscriber_count == len(imported)

        again, errors_again = await _import(store, path, gen.delimiter)
        assert (again.inserted, again.updated, again.skipped) == (0, 0, len(imported))
        assert [e.line for e in errors_again] == [e.line for e in errors]
        await store.close()

    asyncio.run(scenario())


@HOSTILE
@given(
    head=st.sampled_from([b"email\n", b"\xef\xbb\xbfEMAIL,name\r\n", b"name;email\r", b""]),
    body=st.binary(max_size=600),
)
def test_random_bytes_never_crash(tmp_path: Path, head: bytes, body: bytes) -> None:
    path = tmp_path / "noise.csv"
    path.write_bytes(head + body)
    delimiter = ";" if head.startswith(b"name;") else ","

    async def scenario() -> None:
        store = await make_store()
        try:
            report, errors = await _import(store, path, delimiter)
        except InvalidInput as exc:  # a file-level problem: no header, or no email column
            problem = str(exc)
        else:
            problem = ""
        if problem:
            assert "cannot import" in problem or "email" in problem
            return
        assert _balanced(report)
        assert report.errors == len(errors)
        lines = 1 + len(re.findall(rb"\r\n|\r|\n", head + body))
        assert all(2 <= e.line <= lines for e in errors)

    asyncio.run(scenario())


def test_checked_store_rejects_duplicates_in_a_batch() -> None:
    # The property tests rely on the store noticing a duplicate the importer let through.
    async def scenario() -> None:
        store = await make_store()
        rows = [NewSubscriber("a@example.com", "A"), NewSubscriber("A@example.com", "A")]
        with pytest.raises(AssertionError):
            await store.import_batch(rows, ImportOptions())

    asyncio.run(scenario())


def test_a_file_of_bad_rows_is_handled_in_bounded_batches(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("email\n" + "=cmd|' /C calc'!A0\n" * 95, encoding="utf-8")
    calls: list[int] = []

    async def scenario() -> ImportReport:
        store = await make_store()
        return await run_import(
            store,
            ImportRequest(path, batch_size=10),
            on_errors=lambda errors: calls.append(len(errors)),
        )

    report = asyncio.run(scenario())
    assert (report.rows, report.errors, report.inserted) == (95, 95, 0)
    assert calls == [10] * 9 + [5]
