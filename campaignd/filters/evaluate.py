"""The filter AST evaluated on one subscriber in Python: the in-memory store's twin of the SQL
that campaignd.db.filters compiles (the contract suite holds the three stores to one answer)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from campaignd.domain import Subscriber
from campaignd.filters.nodes import And, Compare, Member, Node, Not, Or, numeric

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def contains(text: object, needle: str) -> bool:
    """`~`: case-insensitive containment, as SQLite's REGEXP '(?i)' + re.escape(needle) does."""
    return isinstance(text, str) and re.search("(?i)" + re.escape(needle), text) is not None


def matches(node: Node, sub: Subscriber) -> bool:
    """Whether the subscriber (with its subscriptions) satisfies the expression."""
    if isinstance(node, And):
        return all(matches(i, sub) for i in node.items)
    if isinstance(node, Or):
        return any(matches(i, sub) for i in node.items)
    if isinstance(node, Not):
        return not matches(node.item, sub)
    if isinstance(node, Member):
        return any(
            (node.list_name is None or s.list_name == node.list_name)
            and (node.status is None or s.status.value == node.status)
            for s in sub.subscriptions
        )
    return _compare(node, sub)


def _compare(node: Compare, sub: Subscriber) -> bool:
    op, value = node.op, node.value
    if node.field == "attributes":
        assert node.key is not None
        return _attribute(sub.attributes.get(node.key, _MISSING), op, value)
    if node.field == "email":
        if op == "~":
            return contains(sub.email, str(value))
        return sub.email.lower() == str(value).lower()
    if node.field == "name":
        return contains(sub.name, str(value)) if op == "~" else sub.name == value
    if node.field == "status":
        return sub.status.value == value
    if node.field == "id":
        return _ORDER[op](sub.id, value)
    when = sub.created_at if node.field == "created" else sub.updated_at
    return _ORDER[op](when, value)


_MISSING = object()


def _attribute(found: object, op: str, value: object) -> bool:
    if found is _MISSING:
        return False
    if op == "~":
        return contains(found, str(value))
    if op == "has":
        return isinstance(found, list) and any(
            isinstance(item, str) and item == value for item in found
        )
    if isinstance(value, bool):
        return found is value
    if isinstance(value, str):
        return isinstance(found, str) and found == value
    number = numeric(found)
    return number is not None and _ORDER[op](number, value)
