"""The filter AST: comparisons of subscriber fields, list membership, and / or / not."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

#: Text an attribute holding a string must match to compare as a number ("5", "-2.5", "1e3").
#: The SQL stores use the same pattern (REGEXP on SQLite, ~ on PostgreSQL) and the same length
#: bound, so a cast never sees text it cannot convert.
NUMERIC_TEXT = r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]{1,3})?$"
NUMERIC_TEXT_MAX = 40
NUMERIC_RE = re.compile(NUMERIC_TEXT)

#: Plain subscriber columns a comparison may name (attributes are "attributes.KEY").
TEXT_FIELDS = frozenset({"email", "name"})
TIME_FIELDS = frozenset({"created", "updated"})
FIELDS = ("email", "name", "status", "id", "created", "updated", "list", "subscription")

Value = str | int | float | bool | dt.datetime


@dataclass(frozen=True, slots=True)
class Compare:
    """`field op value`. field is one of FIELDS but list/subscription (see Member), or
    "attributes" with `key` set. op: = != < <= > >= ~ (contains, case-insensitive) has."""

    field: str
    op: str
    value: Value
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """A subscription: on the list named `list_name` (any list when None) with `status` (any
    when None). `list = "News" and subscription = "confirmed"` in one `and` is one Member."""

    list_name: str | None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Compare | Member | And | Or | Not


def numeric(value: object) -> float | int | None:
    """An attribute's value as a number: JSON numbers, and strings that are NUMERIC_TEXT (at
    most NUMERIC_TEXT_MAX characters); None for anything else (never raises)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and len(value) <= NUMERIC_TEXT_MAX and NUMERIC_RE.fullmatch(value):
        return float(value)
    return None
