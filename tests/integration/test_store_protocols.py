"""Each focused store protocol is implemented by both stores, and Store is exactly their union."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from campaignd.store.memory import MemoryStore
from campaignd.store.people_protocol import PeopleStore
from campaignd.store.protocol import (
    BounceStore,
    CampaignStore,
    ImportStore,
    LedgerStore,
    SchemaStore,
    Store,
    SubscriberStore,
)
from campaignd.store.sql import SqlStore
from campaignd.store.tokens_protocol import ApiTokenStore
from campaignd.store.tracking_protocol import TrackingStore

FOCUSED: tuple[Any, ...] = (
    SchemaStore,
    CampaignStore,
    LedgerStore,
    SubscriberStore,
    BounceStore,
    ApiTokenStore,
    TrackingStore,
)


def _methods(protocol: Any) -> dict[str, Any]:
    """The methods a protocol declares itself (not those of the protocols it extends)."""
    return {
        name: value
        for name, value in vars(protocol).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }


def _all_methods(protocol: Any) -> set[str]:
    return {name for base in protocol.__mro__ if base is not object for name in _methods(base)}


def _shape(fn: Any) -> list[tuple[str, Any, Any]]:
    """Parameter names, kinds and defaults (annotations are strings under PEP 563)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("protocol", [*FOCUSED, ImportStore, PeopleStore], ids=lambda p: p.__name__)
@pytest.mark.parametrize("impl", [MemoryStore, SqlStore], ids=lambda c: c.__name__)
def test_each_store_implements_each_focused_protocol(protocol: Any, impl: type) -> None:
    wanted = {n: f for base in protocol.__mro__[::-1] for n, f in _methods(base).items()}
    assert wanted, protocol
    for name, declared in wanted.items():
        got = getattr(impl, name, None)
        assert got is not None, f"{impl.__name__} lacks {protocol.__name__}.{name}"
        assert inspect.iscoroutinefunction(got), f"{impl.__name__}.{name} is not async"
        assert _shape(got) == _shape(declared), f"{impl.__name__}.{name} differs"


def test_store_is_the_union_of_the_focused_protocols_each_method_declared_once() -> None:
    declared = [name for p in (*FOCUSED, ImportStore, PeopleStore) for name in _methods(p)]
    assert len(declared) == len(set(declared)), "a method is declared in two protocols"
    assert _methods(Store) == {}
    assert _all_methods(Store) == set(declared)


# Static: `mypy tests/integration/test_store_protocols.py` checks these structurally, so a
# method missing from a twin, or with another signature, is a type error as well.
def _memory_schema(s: MemoryStore) -> SchemaStore:
    return s


def _memory_campaigns(s: MemoryStore) -> CampaignStore:
    return s


def _memory_ledger(s: MemoryStore) -> LedgerStore:
    return s


def _memory_subscribers(s: MemoryStore) -> SubscriberStore:
    return s


def _memory_bounces(s: MemoryStore) -> BounceStore:
    return s


def _memory_store(s: MemoryStore) -> Store:
    return s


def _sql_schema(s: SqlStore) -> SchemaStore:
    return s


def _sql_campaigns(s: SqlStore) -> CampaignStore:
    return s


def _sql_ledger(s: SqlStore) -> LedgerStore:
    return s


def _sql_subscribers(s: SqlStore) -> SubscriberStore:
    return s


def _sql_bounces(s: SqlStore) -> BounceStore:
    return s


def _sql_store(s: SqlStore) -> Store:
    return s


def _memory_tokens(s: MemoryStore) -> ApiTokenStore:
    return s


def _sql_tokens(s: SqlStore) -> ApiTokenStore:
    return s
