"""The one clock: timezone-aware UTC now, and the one way a given time becomes UTC."""

from __future__ import annotations

import datetime as dt

from campaignd.errors import InvalidInput

#: The first and last instants a time may be in UTC: a year 1-9999 datetime, less a day each
#: side, so a day added or taken away later (a whole day's range, a lag) cannot overflow.
EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
LATEST = dt.datetime.max.replace(tzinfo=dt.UTC) - dt.timedelta(days=1)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime, field: str) -> dt.datetime:
    """`value` in UTC (a time without a zone is taken as UTC); InvalidInput naming `field`
    when it falls outside the years 1-9999 in UTC (e.g. 9999-12-31T23:59:59-14:00)."""
    try:
        utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise InvalidInput(
            f"{field} {value.isoformat()} is out of range: it must lie between "
            f"{EARLIEST.date().isoformat()} and {LATEST.date().isoformat()} in UTC",
            field=field,
        )
    return utc
