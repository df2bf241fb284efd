"""Rows travel to the SQLite import writer as one string (db.fastimport.pack/unpack)."""

from __future__ import annotations

import pytest

from campaignd.db.fastimport import pack, unpack


def test_rows_round_trip() -> None:
    fields = [
        "a@x.example",
        "a@x.example",
        "Zoë \u2028",
        "{}",
        "B@x.example",
        "b@x.example",
        "",
        '{"k": ","}',
    ]
    assert unpack(pack(fields)) == [tuple(fields[:4]), tuple(fields[4:])]


def test_no_rows() -> None:
    assert unpack(pack([])) == []


def test_a_nul_in_a_field_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        pack(["a\x00@x.example", "a@x.example", "", "{}"])


def test_fields_not_in_fours_are_refused() -> None:
    with pytest.raises(ValueError, match="fours"):
        unpack("a@x.example\x00a@x.example\x00name")
