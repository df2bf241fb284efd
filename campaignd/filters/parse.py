"""The filter language's tokenizer and parser: text in, a checked AST (nodes.py) out.

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison
    comparison := FIELD OP VALUE        OP: = != < <= > >= ~ has
    VALUE      := "text" | 'text' | number | true | false

Every problem is one InvalidInput naming the column (1-based) where it is.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from campaignd.domain import SubscriberStatus, SubscriptionStatus, as_utc
from campaignd.errors import InvalidInput, NotFound
from campaignd.filters.nodes import (
    FIELDS,
    TEXT_FIELDS,
    TIME_FIELDS,
    And,
    Compare,
    Member,
    Node,
    Not,
    Or,
    Value,
)

MAX_LENGTH = 4000  # characters of one expression
MAX_DEPTH = 20  # nested parentheses and nots
MAX_TERMS = 100  # comparisons in one expression
MAX_KEY = 100  # characters of an attribute name

_OPS = ("!=", "<=", ">=", "=", "<", ">", "~")
_KEYWORDS = frozenset({"and", "or", "not", "has", "true", "false"})
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ( ) op str num word end
    text: str
    col: int
    value: Value | None = None


def _error(col: int, problem: str) -> InvalidInput:
    return InvalidInput(f"invalid filter at column {col}: {problem}")


def _string(source: str, start: int) -> tuple[str, int]:
    quote, i = source[start], start + 1
    out: list[str] = []
    while i < len(source):
        ch = source[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\0":
            raise _error(i + 1, "a NUL character cannot be in a string")
        if ch == "\\":
            nxt = source[i + 1 : i + 2]
            if nxt not in _ESCAPES:
                shown = repr("\\" + nxt) if nxt else "a \\ at the end"
                raise _error(i + 1, f"unknown escape {shown} in a string (use \\{quote} or \\\\)")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise _error(start + 1, f"string never closed (no matching {quote})")


def _number(source: str, start: int) -> tuple[Token, int]:
    i = start + (source[start] == "-")
    while i < len(source) and (source[i].isdigit() or source[i] in ".eE+-"):
        if source[i] in "+-" and source[i - 1] not in "eE":
            break
        i += 1
    text = source[start:i]
    try:
        value: int | float = int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        raise _error(start + 1, f"{text!r} is not a number") from None
    if (isinstance(value, float) and not math.isfinite(value)) or abs(value) >= 2**63:
        raise _error(start + 1, f"number {text} is out of range")
    return Token("num", text, start + 1, value), i


def tokens(source: str) -> Iterator[Token]:
    """The tokens of `source`, ending with an "end" token."""
    i = 0
    while i < len(source):
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            yield Token(ch, ch, i + 1)
            i += 1
        elif ch in "\"'":
            text, end = _string(source, i)
            yield Token("str", source[i:end], i + 1, text)
            i = end
        elif ch.isdigit() or (ch == "-" and source[i + 1 : i + 2].isdigit()):
            token, i = _number(source, i)
            yield token
        elif ch.isalpha() or ch == "_":
            end = i
            while end < len(source) and (source[end].isalnum() or source[end] in "_.-"):
                end += 1
            yield Token("word", source[i:end], i + 1)
            i = end
        else:
            op = next((o for o in _OPS if source.startswith(o, i)), None)
            if op is None:
                raise _error(i + 1, f"unexpected character {ch!r}")
            yield Token("op", op, i + 1)
            i += len(op)
    yield Token("end", "", len(source) + 1)


def parse(source: str) -> Node:
    """The AST of a filter expression; InvalidInput (with the column) if it is not one."""
    if len(source) > MAX_LENGTH:
        raise InvalidInput(f"invalid filter: longer than {MAX_LENGTH} characters")
    if not source.strip():
        raise InvalidInput("invalid filter: the expression is empty")
    return _Parser(list(tokens(source))).parse()


def parse_checked(source: str, lists: Collection[str]) -> Node:
    """`parse`, and every list the expression names is one of `lists` (NotFound naming it and
    the lists there are, otherwise)."""
    node = parse(source)
    unknown = sorted(list_names(node) - set(lists))
    if unknown:
        shown = ", ".join(repr(n) for n in sorted(lists)[:20]) or "none"
        raise NotFound(
            f"invalid filter: no list named {', '.join(repr(n) for n in unknown)}; "
            f"the lists are: {shown}"
        )
    return node


def list_names(node: Node) -> set[str]:
    """The list names an expression mentions (to check they exist)."""
    if isinstance(node, Member):
        return {node.list_name} if node.list_name is not None else set()
    if isinstance(node, Not):
        return list_names(node.item)
    if isinstance(node, And | Or):
        return set().union(*(list_names(i) for i in node.items))
    return set()


class _Parser:
    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.pos = 0
        self.depth = 0
        self.terms = 0

    def peek(self) -> Token:
        return self.toks[self.pos]

    def take(self) -> Token:
        token = self.toks[self.pos]
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "word" and token.text.lower() == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Node:
        node = self.expr()
        token = self.peek()
        if token.kind != "end":
            raise _error(token.col, f"expected 'and', 'or' or the end, found {token.text!r}")
        return node

    def expr(self) -> Node:
        items = [self.term()]
        while self.keyword("or"):
            items.append(self.term())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def term(self) -> Node:
        items = [self.factor()]
        while self.keyword("and"):
            items.append(self.factor())
        return items[0] if len(items) == 1 else _merge_members(tuple(items))

    def factor(self) -> Node:
        token = self.peek()
        if self.keyword("not"):
            self.nest(token)
            node: Node = Not(self.factor())
            self.depth -= 1
            return node
        if token.kind == "(":
            self.take()
            self.nest(token)
            node = self.expr()
            self.depth -= 1
            close = self.take()
            if close.kind != ")":
                raise _error(close.col, f"expected ')' to close column {token.col}")
            return node
        return self.comparison()

    def nest(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(token.col, f"nested more than {MAX_DEPTH} levels deep")

    def comparison(self) -> Node:
        field = self.take()
        if field.kind != "word" or field.text.lower() in _KEYWORDS:
            raise _error(
                field.col,
                f"expected a field such as status or attributes.city, found {_shown(field)}",
            )
        lowered = field.text.lower()
        if not lowered.startswith("attributes.") and lowered not in FIELDS:
            raise _error(
                field.col,
                f"unknown field {field.text!r}; fields are {', '.join(FIELDS)} and attributes.NAME",
            )
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise _error(field.col, f"more than {MAX_TERMS} comparisons")
        op = self.take()
        if op.kind != "op" and not (op.kind == "word" and op.text.lower() == "has"):
            raise _error(
                op.col,
                f"expected an operator (= != < <= > >= ~ has) after {field.text}, "
                f"found {_shown(op)}",
            )
        value = self.take()
        if value.kind in ("str", "num"):
            literal = value.value
        elif value.kind == "word" and value.text.lower() in ("true", "false"):
            literal = value.text.lower() == "true"
        else:
            raise _error(
                value.col,
                f'expected a value ("text", a number, true or false) after {field.text} '
                f"{op.text}, found {_shown(value)}",
            )
        assert literal is not None
        return _check(field, op, literal, value.col)


def _shown(token: Token) -> str:
    return "the end" if token.kind == "end" else repr(token.text)


def _merge_members(items: tuple[Node, ...]) -> Node:
    """In one `and`, `subscription` comparisons are about the one list named with `list =`
    (also inside not, or and parentheses there, unless those name a list themselves)."""
    named = [i for i in items if isinstance(i, Member) and i.list_name and i.status is None]
    if len(named) != 1:
        return And(items)
    name = named[0].list_name

    def bind(node: Node) -> Node:
        """Down through not/or/parentheses, but not into a part naming a list of its own."""
        if isinstance(node, Member) and node.list_name is None:
            return Member(name, node.status)
        if node in named or list_names(node):
            return node
        if isinstance(node, Not):
            return Not(bind(node.item))
        if isinstance(node, And | Or):
            return type(node)(tuple(bind(i) for i in node.items))
        return node

    return And(tuple(bind(i) for i in items))


def _kind(value: Value) -> str:
    if isinstance(value, bool):
        return "true/false"
    return "text" if isinstance(value, str) else "a number"


def _check(field: Token, operator: Token, value: Value, col: int) -> Node:
    """The comparison as a node, if the field, operator and value go together."""
    name, op = field.text, operator.text.lower()
    lowered = name.lower()
    if lowered.startswith("attributes."):
        return _attribute(field, name[len("attributes.") :], op, value, col)
    allowed = {
        "id": ("=", "!=", "<", "<=", ">", ">="),
        "created": ("=", "!=", "<", "<=", ">", ">="),
        "updated": ("=", "!=", "<", "<=", ">", ">="),
        "email": ("=", "!=", "~"),
        "name": ("=", "!=", "~"),
    }.get(lowered, ("=", "!="))
    if op not in allowed:
        raise _error(
            operator.col, f"operator {op} does not apply to {lowered} (use {' '.join(allowed)})"
        )
    if lowered == "id":
        if not isinstance(value, int) or isinstance(value, bool):
            raise _error(col, f"type mismatch: id compares with a whole number, not {_kind(value)}")
        return _negated(Compare("id", op, value))
    if not isinstance(value, str):
        hint = ' a date such as "2026-01-01"' if lowered in TIME_FIELDS else " text in quotes"
        raise _error(col, f"type mismatch: {lowered} compares with{hint}, not {_kind(value)}")
    if lowered in TIME_FIELDS:
        return _time(lowered, op, value, col)
    if lowered in TEXT_FIELDS:
        return _negated(Compare(lowered, op, value))
    if lowered == "status":
        _choice(value, [s.value for s in SubscriberStatus], col)
        return _negated(Compare("status", op, value))
    if lowered == "subscription":
        _choice(value, [s.value for s in SubscriptionStatus], col)
        member = Member(None, value)
    else:
        member = Member(value)
    return Not(member) if op == "!=" else member


def _negated(node: Compare) -> Node:
    """`a != b` is `not (a = b)`: a missing attribute or field matches it."""
    if node.op == "!=":
        return Not(Compare(node.field, "=", node.value, node.key))
    return node


def _choice(value: str, choices: list[str], col: int) -> None:
    if value not in choices:
        raise _error(col, f"{value!r} is not one of {', '.join(choices)}")


def _attribute(field: Token, key: str, op: str, value: Value, col: int) -> Node:
    if not key or len(key) > MAX_KEY or "." in key:
        raise _error(
            field.col,
            f"attributes.NAME needs a name of 1 to {MAX_KEY} letters, "
            "digits, _ or - (top-level attributes only)",
        )
    ordered = op in ("<", "<=", ">", ">=")
    if ordered and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise _error(col, f"type mismatch: {op} on an attribute needs a number, not {_kind(value)}")
    if op in ("~", "has") and not isinstance(value, str):
        raise _error(col, f"type mismatch: {op} needs text in quotes, not {_kind(value)}")
    return _negated(Compare("attributes", op, value, key))


def _time(field: str, op: str, value: str, col: int) -> Node:
    """A time comparison; a date alone means that whole day (UTC)."""
    try:
        if len(value) == 10:
            day = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
        else:
            when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _error(col, f"{value!r} is not a date (2026-01-31) or an ISO-8601 time") from None
    try:  # out of range in UTC (9999-12-31T23:59:59-14:00): named, not an OverflowError
        if len(value) != 10:
            return _negated(Compare(field, op, as_utc(when, field)))
        day = as_utc(day, field)
    except InvalidInput as exc:
        raise _error(col, str(exc)) from None
    nxt = day + dt.timedelta(days=1)
    whole = And((Compare(field, ">=", day), Compare(field, "<", nxt)))
    by_op: dict[str, Node] = {
        "=": whole,
        "!=": Not(whole),
        "<": Compare(field, "<", day),
        "<=": Compare(field, "<", nxt),
        ">": Compare(field, ">=", nxt),
        ">=": Compare(field, ">=", day),
    }
    return by_op[op]
