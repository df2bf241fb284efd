"""Pure CSV row handling for the import: header columns, row validation, safe error output."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from campaignd.addresses import (
    MAX_NAME_LENGTH,
    name_from_email,
    normalize_email,
)
from campaignd.domain import MAX_ATTRIBUTES, NewSubscriber, check_attributes
from campaignd.domain.jsontext import finite_float, reject_constant
from campaignd.errors import InvalidInput
from campaignd.importing.csvsafe import restore

MAX_ATTRIBUTES_BYTES = MAX_ATTRIBUTES  # the one bound: the CLI and the API have it too
MAX_RAW_REPORT = 1000  # characters of a bad row kept for the report

# Lone surrogates in decoded text stand for bytes that were not UTF-8 (surrogateescape).
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class Columns:
    """Where the known columns are in each row; found lists the header as read."""

    email: int
    width: int
    found: tuple[str, ...]
    name: int | None = None
    attributes: int | None = None
    status: int | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that was not imported: its first line in the file, why, and its text."""

    line: int
    error: str
    raw: str


@dataclass(slots=True)
class ParsedRow:
    line: int
    subscriber: NewSubscriber
    blocklisted: bool = False  # a listmonk export row with status=blocklisted
    attributes_json: str = "{}"  # the attributes as the file wrote them (valid JSON object text)


def parse_header(cells: Sequence[str]) -> Columns:
    """Find the columns, ignoring case, surrounding spaces, a BOM and unknown names.

    Raise InvalidInput naming the columns found when there is no `email` column.
    """
    names = tuple(c.replace(_BOM, "").strip().lower() for c in cells)
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in ("email", "name", "attributes", "status"):
            if name in positions:
                raise InvalidInput(f"the header names the column {name!r} twice")
            positions[name] = index
    if "email" not in positions:
        shown = ", ".join(repr(n) for n in names[:20]) or "none"
        raise InvalidInput(f"the header has no 'email' column; columns found: {shown}")
    return Columns(
        email=positions["email"],
        width=len(names),
        found=names,
        name=positions.get("name"),
        attributes=positions.get("attributes"),
        status=positions.get("status"),
    )


def raw_text(cells: Sequence[str], delimiter: str = ",") -> str:
    """The row as text for a report: bad bytes shown as U+FFFD, NUL as \\0, length capped."""
    text = delimiter.join(cells)
    if len(text) > MAX_RAW_REPORT:
        text = text[:MAX_RAW_REPORT] + "…"
    if not text.isascii():
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\x00", "\\0")


_DECODER = json.JSONDecoder(parse_constant=reject_constant, parse_float=finite_float)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
# Escapes that may decode to NUL or a lone surrogate (a match only means "check closely").
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def parse_attributes(cell: str) -> dict[str, Any]:
    """A JSON object from one cell; empty means {}. Raise InvalidInput with the reason."""
    cell = cell.strip()
    if not cell or cell == "{}":
        return {}
    if len(cell) > MAX_ATTRIBUTES_BYTES // 4 and len(cell.encode("utf-8")) > MAX_ATTRIBUTES_BYTES:
        raise InvalidInput(f"attributes are larger than {MAX_ATTRIBUTES_BYTES // 1024} KB")
    try:  # the common case: one C scan, no Python wrapper; any doubt takes the full path
        value, end = _SCAN(cell, 0)
        if (
            end == len(cell)
            and type(value) is dict
            and ("\\u" not in cell or _RISKY_ESCAPE.search(cell) is None)
        ):
            return value
    except (ValueError, StopIteration, RecursionError):
        pass
    try:
        value = _DECODER.decode(cell)
    except RecursionError:
        raise InvalidInput("attributes are nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, our constant/float checks, huge integers
        raise InvalidInput(f"attributes are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"attributes must be a JSON object, not {type(value).__name__}")
    if "\\u" in cell:  # an escape may make a NUL or a lone surrogate: the one check
        check_attributes(value)
    return value


#: A valid row for the bulk path: (email, name, attributes, attributes JSON text, blocklisted).
CheckedRow = tuple[str, str, dict[str, Any], str, bool]


def undecodable(encoding: str | None) -> str:
    """Why a row with bytes the file's encoding cannot decode is skipped."""
    if encoding is None:
        return (
            "the row is not valid UTF-8; if the file is in another encoding, "
            "give it with --encoding (e.g. --encoding cp1252 or --encoding latin-1)"
        )
    return f"the row is not valid {encoding}"


def parse_row(
    cells: list[str],
    columns: Columns,
    line: int,
    delimiter: str = ",",
    encoding: str | None = None,
) -> ParsedRow | RowError:
    """Validate one data row: a subscriber to import, or the reason it is skipped."""
    checked = check_row(cells, columns, line, delimiter, encoding)
    if isinstance(checked, RowError):
        return checked
    email, name, attributes, text, blocklisted = checked
    return ParsedRow(line, NewSubscriber(email, name, attributes), blocklisted, text)


def check_row(
    cells: list[str],
    columns: Columns,
    line: int,
    delimiter: str = ",",
    encoding: str | None = None,
) -> CheckedRow | RowError:
    """parse_row without the objects: a plain tuple, cheaper on a million rows. `encoding`:
    the one given for the file (None: UTF-8), named when a row cannot be decoded."""
    if len(cells) != columns.width:
        return RowError(
            line,
            f"expected {columns.width} columns, found {len(cells)}",
            raw_text(cells, delimiter),
        )
    joined = "".join(cells)
    if not joined.isascii():
        try:
            joined.encode("utf-8")  # in C; fails only on lone surrogates
        except UnicodeEncodeError:
            if _UNDECODABLE.search(joined):
                return RowError(line, undecodable(encoding), raw_text(cells, delimiter))
    if "\x00" in joined:
        return RowError(line, "the row contains a NUL byte", raw_text(cells, delimiter))
    blocklisted = False
    if columns.status is not None:
        status = cells[columns.status].strip().lower()
        if status == "blocklisted":
            blocklisted = True
        elif status == "disabled":
            return RowError(
                line,
                "status 'disabled' is not imported (it would make the address mailable again)",
                raw_text(cells, delimiter),
            )
    try:
        email = normalize_email(restore(cells[columns.email]))
        name = "" if columns.name is None else restore(cells[columns.name]).strip()
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidInput(f"the name is longer than {MAX_NAME_LENGTH} characters")
        cell = "" if columns.attributes is None else cells[columns.attributes]
        attributes = parse_attributes(cell) if cell else {}
    except InvalidInput as exc:
        return RowError(line, str(exc), raw_text(cells, delimiter))
    return (
        email,
        name or name_from_email(email),
        attributes,
        cell.strip() if attributes else "{}",
        blocklisted,
    )
