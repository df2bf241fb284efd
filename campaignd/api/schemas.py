"""Shared request and response shapes: strict bodies, bounded text and ids, keyset pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")

MAX_ID = 2**31 - 1
#: Characters of a template or campaign body: under the default body limit ([api]
#: max_body_size), so an over-long one is named (422) rather than cut off (413).
MAX_SOURCE = 256 * 1024


def _no_controls(value: str) -> str:
    if any(ord(c) < 32 and c not in "\t\r\n" for c in value):
        raise ValueError("must not contain control characters")
    return value


def _one_line(value: str) -> str:
    if any(ord(c) < 32 or c in "\u2028\u2029\x85" for c in value):
        raise ValueError("must be one line without control characters")
    return value


#: Any text without NUL or other control characters (tabs and line breaks allowed).
Text = Annotated[str, AfterValidator(_no_controls)]
#: A name: one line, no control characters.
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class Body(BaseModel):
    """A request body: strict JSON types (no "true" for true), unknown fields refused, so a
    typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Query(BaseModel):
    """Query parameters: text converted to the field's type; unknown ones refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PageQuery(Query):
    """Keyset pagination: the items with an id above `after`, at most `limit` of them."""

    after: Annotated[int, Field(ge=0, le=MAX_ID)] = 0
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class Page(BaseModel, Generic[T]):
    """One page; ask for the next with ?after=next_after (null: this was the last)."""

    items: list[T]
    next_after: int | None


class Removed(BaseModel):
    """How many rows a change touched."""

    changed: int


def page(items: Sequence[T], key: Callable[[T], int], query: PageQuery) -> Page[T]:
    """The page of `items` (any order) that `query` asks for, in key order."""
    chosen = sorted((i for i in items if key(i) > query.after), key=key)
    shown = chosen[: query.limit]
    more = len(chosen) > query.limit
    return Page[T](items=shown, next_after=key(shown[-1]) if more and shown else None)
