"""The rows of the SQLite bulk import: as tuples, as columns, and packed into one string."""

from __future__ import annotations

import json
from collections.abc import Sequence

from campaignd.domain import NewSubscriber

#: One row for the bulk path: (email, email_key, name, attributes as a JSON object text).
BulkRow = tuple[str, str, str, str]
#: The same rows as four parallel lists (what the writer works on: no tuple per row).
BulkColumns = tuple[list[str], list[str], list[str], list[str]]

_SEP = "\x00"  # csvrows rejects a row with a NUL, so no field holds one


def pack(fields: Sequence[str]) -> str:
    """Flat row fields (4 a row) as one string; ValueError if a field holds a NUL."""
    text = _SEP.join(fields)
    if fields and text.count(_SEP) != len(fields) - 1:
        raise ValueError("a field of an imported row holds a NUL character")
    return text


def unpack(text: str) -> BulkColumns:
    """The rows ``pack`` packed, as columns: (emails, email_keys, names, attributes)."""
    if not text:
        return [], [], [], []
    fields = text.split(_SEP)
    if len(fields) % 4:
        raise ValueError("packed rows do not come in fours")
    return fields[0::4], fields[1::4], fields[2::4], fields[3::4]


def bulk_rows(rows: Sequence[NewSubscriber]) -> list[BulkRow]:
    """Subscribers as the bulk path's rows (the store's import_batch on a SQLite file)."""
    return [(r.email, r.email.lower(), r.name, json.dumps(dict(r.attributes))) for r in rows]


def columns(rows: Sequence[BulkRow]) -> BulkColumns:
    """Rows as columns: (emails, email_keys, names, attributes)."""
    if not rows:
        return [], [], [], []
    emails, keys, names, attributes = zip(*rows, strict=True)
    return list(emails), list(keys), list(names), list(attributes)
