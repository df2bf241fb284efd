"""Column types that behave the same on SQLite and PostgreSQL (timezone-aware UTC datetimes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: How SQLite stores our datetimes: fixed width, so text order is time order.
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC that always comes back timezone-aware (UTC).

    PostgreSQL keeps it as ``timestamp with time zone``; SQLite as fixed-width UTC text.
    Naive datetimes are refused: every time in campaignd is aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"expected a timezone-aware datetime, got {value!r}")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        return to_utc(value)


def to_utc(value: Any) -> dt.datetime | None:
    """A datetime (or SQLite text) from the database as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def sqlite_text(value: dt.datetime) -> str:
    """The SQLite text form of an aware datetime, identical to what UtcDateTime stores."""
    return value.astimezone(dt.UTC).strftime(SQLITE_FORMAT)
