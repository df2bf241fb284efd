"""CSV cells made inert for spreadsheets (OWASP CSV injection): one function for every export."""

from __future__ import annotations

import pytest

from campaignd.importing.csvsafe import neutralise, restore, safe_row


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        (
            '=HYPERLINK("http://evil.example","click")',
            '\'=HYPERLINK("http://evil.example","click")',
        ),
        # Spreadsheets skip leading whitespace before looking for a formula.
        (" =1+2", "' =1+2"),
        ("  @SUM(A1)", "'  @SUM(A1)"),
        ("\n-2+3", "'\n-2+3"),
        ("\u00a0+cmd", "'\u00a0+cmd"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("user@example.com", "user@example.com"),
        ("   ", "   "),
        ("", ""),
    ],
)
def test_neutralise(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe


def test_safe_row_leaves_numbers_alone() -> None:
    assert safe_row(["=1", 550, None, -3, "ok"]) == ["'=1", 550, None, -3, "ok"]


@pytest.mark.parametrize(
    "cell", ["=1+2", "+x", "-1", "@SUM(1)", "  =x", "\tx", "\rx", "plain", "'quoted", "", "'"]
)
def test_restore_undoes_neutralise(cell: str) -> None:
    assert restore(neutralise(cell)) == cell


@pytest.mark.parametrize("cell", ["'quoted", "'", "''=x", "it's", "'plain"])
def test_restore_leaves_cells_neutralise_did_not_make(cell: str) -> None:
    assert restore(cell) == cell
