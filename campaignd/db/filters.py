"""The filter AST (campaignd.filters) as a SQLAlchemy condition on the subscribers table.

Every value is a bound parameter; attribute names go into a bound JSON path (SQLite) or a
bound path element (PostgreSQL), never into the SQL text. The meaning is the one of
campaignd.filters.evaluate (the in-memory store), held together by the contract suite:

- an attribute comparison is false, never NULL, when the attribute is missing or of another
  type, so `not` and `!=` (which is `not =`) match those subscribers;
- numbers: JSON numbers, and text that is NUMERIC_TEXT of at most NUMERIC_TEXT_MAX characters;
  the cast runs only after that test, so junk text never raises;
- `~` is case-insensitive containment of plain text (re.escape): REGEXP '(?i)...' on SQLite
  (SQLAlchemy registers Python's re as REGEXP), ~* on PostgreSQL (its lc_ctype folds
  non-ASCII letters; the C.UTF-8 and *.UTF-8 locales do).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Float,
    Numeric,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from campaignd.db import tables as T
from campaignd.filters import And, Compare, Member, Node, Not, Or
from campaignd.filters.nodes import NUMERIC_TEXT, NUMERIC_TEXT_MAX

_COLUMNS = {"id": "id", "created": "created_at", "updated": "updated_at", "status": "status"}


def condition(node: Node | None, dialect: str) -> ColumnElement[bool]:
    """The WHERE condition on T.subscribers for the expression (true for None)."""
    if node is None:
        return true()
    if isinstance(node, And):
        return and_(true(), *(condition(i, dialect) for i in node.items))
    if isinstance(node, Or):
        return or_(false(), *(condition(i, dialect) for i in node.items))
    if isinstance(node, Not):
        return not_(condition(node.item, dialect))
    if isinstance(node, Member):
        return _member(node)
    return _compare(node, dialect)


def _member(node: Member) -> ColumnElement[bool]:
    sl, li = T.subscriptions.c, T.lists.c
    query = select(literal(1)).where(sl.subscriber_id == T.subscribers.c.id)
    if node.list_name is not None:
        query = query.join_from(T.subscriptions, T.lists, li.id == sl.list_id).where(
            li.name == node.list_name
        )
    if node.status is not None:
        query = query.where(sl.status == node.status)
    return exists(query)


def _icontains(column: Any, needle: str, dialect: str) -> ColumnElement[bool]:
    pattern = re.escape(needle)
    if dialect == "postgresql":
        return column.op("~*")(literal(pattern, String))  # type: ignore[no-any-return]
    return column.regexp_match("(?i)" + pattern)  # type: ignore[no-any-return]


def _ordered(left: Any, op: str, right: Any) -> ColumnElement[bool]:
    ops = {
        "=": left == right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }
    return ops[op]  # type: ignore[no-any-return]


def _compare(node: Compare, dialect: str) -> ColumnElement[bool]:
    s = T.subscribers.c
    value = node.value
    if node.field == "attributes":
        assert node.key is not None
        # Two-valued: a missing attribute makes the comparison false, never NULL.
        return func.coalesce(_attribute(node.key, node.op, value, dialect), false())
    if node.field == "email":
        if node.op == "~":
            return _icontains(s.email, str(value), dialect)
        return s.email_key == str(value).lower()
    if node.field == "name":
        if node.op == "~":
            return _icontains(s.name, str(value), dialect)
        return s.name == value
    return _ordered(s[_COLUMNS[node.field]], node.op, value)


def _attribute(key: str, op: str, value: object, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return _pg_attribute(key, op, value)
    attrs = T.subscribers.c.attributes
    path = literal('$."' + key + '"', String)
    kind, raw = func.json_type(attrs, path), func.json_extract(attrs, path)
    # REGEXP is Python's re and raises on a number: it only ever sees text or NULL (SQLite may
    # evaluate both sides of an AND).
    text_only = case((kind == "text", raw), else_=None)
    if op == "~":
        return _icontains(text_only, str(value), dialect)
    if op == "has":
        each = func.json_each(attrs, path).table_valued("type", "value").alias("each")
        found = exists(
            select(literal(1)).select_from(each).where(each.c.type == "text", each.c.value == value)
        )
        return and_(kind == "array", found)
    if isinstance(value, bool):
        return kind == ("true" if value else "false")
    if isinstance(value, str):
        return and_(kind == "text", raw == value)
    number = case(
        (kind.in_(["integer", "real"]), raw),
        (
            and_(
                kind == "text",
                func.length(raw) <= NUMERIC_TEXT_MAX,
                func.instr(raw, "\n") == 0,  # Python's $ would match before a final newline
                text_only.regexp_match(NUMERIC_TEXT),
            ),
            cast(raw, Float),
        ),
        else_=None,
    )
    return _ordered(number, op, literal(value))


def _pg_attribute(key: str, op: str, value: object) -> ColumnElement[bool]:
    attrs = cast(T.subscribers.c.attributes, JSONB)
    element = literal(key, String)
    found = func.jsonb_extract_path(attrs, element)
    kind, raw = func.jsonb_typeof(found), func.jsonb_extract_path_text(attrs, element)
    if op == "~":
        return and_(kind == "string", _icontains(raw, str(value), "postgresql"))
    if op == "has":
        wanted = func.jsonb_build_array(literal(value, String))
        return and_(kind == "array", found.op("@>")(wanted))
    if isinstance(value, bool):
        return and_(kind == "boolean", raw == ("true" if value else "false"))
    if isinstance(value, str):
        return and_(kind == "string", raw == literal(value, String))
    number = case(
        (kind == "number", cast(raw, Numeric)),
        (
            and_(
                kind == "string",
                func.length(raw) <= NUMERIC_TEXT_MAX,
                raw.op("~")(literal(NUMERIC_TEXT, String)),
            ),
            cast(raw, Numeric),
        ),
        else_=None,
    )
    return _ordered(number, op, literal(Decimal(repr(value)), Numeric(asdecimal=True)))
