"""Spreadsheet-safe CSV cells: text a spreadsheet would run as a formula gets a quote prefix."""

from __future__ import annotations

from collections.abc import Iterable

# OWASP "CSV Injection": = + - @ start a formula (also after leading spaces, which spreadsheets
# skip); a leading tab or CR can too.
_FORMULA_LEAD = ("=", "+", "-", "@")
_CONTROL_LEAD = ("\t", "\r")


def neutralise(cell: str) -> str:
    """The cell made inert: formula-like text gets a leading ' (shown, never evaluated)."""
    if cell.startswith(_CONTROL_LEAD) or cell.lstrip().startswith(_FORMULA_LEAD):
        return "'" + cell
    return cell


def safe_row(cells: Iterable[object]) -> list[object]:
    """A CSV row with every text cell neutralised (numbers and None are left as they are)."""
    return [neutralise(c) if isinstance(c, str) else c for c in cells]


def restore(cell: str) -> str:
    """The inverse of `neutralise` for a cell it changed: `'=x` -> `=x`; any other cell as is.
    The import reads address and name cells through it, so an export re-imports as it was."""
    if cell[:1] == "'" and neutralise(cell[1:]) == cell:
        return cell[1:]
    return cell
