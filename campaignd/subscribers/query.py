"""Subscriber queries with the filter language: checked expressions, pages, matching ids."""

from __future__ import annotations

from dataclasses import dataclass

from campaignd.domain import Subscriber
from campaignd.errors import InvalidInput
from campaignd.filters import Node, parse_checked
from campaignd.store.protocol import SubscriberStore

MAX_PAGE = 10_000
DEFAULT_PAGE = 100


@dataclass(frozen=True, slots=True)
class Page:
    """One page of subscribers in id order; `next_after` is the id to pass as `after` for the
    next page (None when this is the last one)."""

    subscribers: list[Subscriber]
    next_after: int | None


async def check_query(store: SubscriberStore, expression: str | None) -> Node | None:
    """The parsed expression (None for none or blank), its lists checked to exist: InvalidInput
    with the column for bad syntax, NotFound naming an unknown list and the lists there are."""
    if expression is None or not expression.strip():
        return None
    return parse_checked(expression, (await store.list_names()).values())


async def list_subscribers(
    store: SubscriberStore,
    expression: str | None,
    *,
    after: int = 0,
    limit: int = DEFAULT_PAGE,
) -> Page:
    """Subscribers matching `expression` with id > after, at most `limit` of them."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"--limit must be between 1 and {MAX_PAGE}, not {limit}")
    if after < 0:
        raise InvalidInput(f"--after must be a subscriber id (0 or more), not {after}")
    node = await check_query(store, expression)
    found = await store.query_subscribers(node, after, limit + 1)
    more = len(found) > limit
    page = found[:limit]
    return Page(page, page[-1].id if more and page else None)


async def count_matching(store: SubscriberStore, expression: str | None) -> int:
    """How many subscribers match (all for None)."""
    return await store.count_subscribers(await check_query(store, expression))


async def matching_ids(store: SubscriberStore, expression: str, *, page: int = 5_000) -> list[int]:
    """The ids of every subscriber matching `expression`, in id order (for bulk actions such as
    `subscribers delete --query`); an empty or blank expression is refused, never "everyone"."""
    if not expression.strip():
        raise InvalidInput("invalid filter: the expression is empty")
    node = await check_query(store, expression)
    ids: list[int] = []
    after = 0
    while batch := await store.query_subscribers(node, after, page):
        ids += [s.id for s in batch]
        after = batch[-1].id
    return ids
