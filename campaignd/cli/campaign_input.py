"""Campaign command input shared by create and update: files, send times, header options."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from campaignd.domain import as_utc
from campaignd.errors import InvalidInput

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def read_file(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc


def parse_when(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"--send-at {value!r} is not an ISO-8601 time") from exc
    if when.tzinfo is None:
        raise InvalidInput(
            f"--send-at {value!r} has no time zone; add one, e.g. 2026-12-01T09:00:00+01:00 or Z"
        )
    return as_utc(when, "--send-at")


def parse_header(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep or not name.strip():
        raise InvalidInput(f"--header {value!r} must look like 'Name: value'")
    return name.strip(), rest.strip()
