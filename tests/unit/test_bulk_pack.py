"""Rows travel to the SQLite import writer as one string (db.sqlite.bulkrows.pack/unpack)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from campaignd.db.sqlite.bulkrows import columns, pack, unpack
from campaignd.db.sqlite.upsert import _new_uuids


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
    rows = [tuple(fields[:4]), tuple(fields[4:])]
    assert unpack(pack(fields)) == columns(rows)  # type: ignore[arg-type]
    assert columns(rows) == tuple(list(c) for c in zip(*rows, strict=True))  # type: ignore[arg-type]


def test_no_rows() -> None:
    assert unpack(pack([])) == columns([]) == ([], [], [], [])


def test_a_nul_in_a_field_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        pack(["a\x00@x.example", "a@x.example", "", "{}"])


def test_fields_not_in_fours_are_refused() -> None:
    with pytest.raises(ValueError, match="fours"):
        unpack("a@x.example\x00a@x.example\x00name")


def test_new_uuids_are_version_7_time_ordered_and_distinct() -> None:
    now = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    made = _new_uuids(500, now)
    assert len(set(made)) == 500
    for text in made:
        u = uuid.UUID(text)
        assert (len(text), u.version, u.variant) == (32, 7, uuid.RFC_4122)
        assert int(text[:12], 16) == int(now.timestamp() * 1000)
    assert _new_uuids(0, now) == []
    later = _new_uuids(1, now + dt.timedelta(milliseconds=1))[0]
    assert later > max(made)
