"""ApiTokenStore and get_subscriber_by_id, on every store: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from campaignd.errors import Conflict, NotFound
from tests.integration.store_fixtures import single, store, store_url, subscriber

__all__ = ["store", "store_url"]  # fixtures

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
H1, H2 = "a" * 64, "b" * 64


async def test_tokens_are_added_listed_found_by_hash_and_revoked(store: Any) -> None:
    added = await store.add_api_token("shop", H1, False, T0)
    await store.add_api_token("reports", H2, True, T0)
    assert (added.name, added.token_hash, added.read_only, added.created_at) == (
        "shop",
        H1,
        False,
        T0,
    )
    assert [(t.name, t.read_only) for t in await store.api_tokens()] == [
        ("reports", True),
        ("shop", False),
    ]
    found = await store.api_token_by_hash(H2)
    assert (found.name, found.read_only) == ("reports", True)
    await store.revoke_api_token("reports")
    with pytest.raises(NotFound):
        await store.api_token_by_hash(H2)
    assert [t.name for t in await store.api_tokens()] == ["shop"]


async def test_token_names_are_unique_and_unknown_ones_refused(store: Any) -> None:
    await store.add_api_token("shop", H1, False, T0)
    with pytest.raises(Conflict):
        await store.add_api_token("shop", H2, True, T0)
    with pytest.raises(NotFound):
        await store.revoke_api_token("nobody")
    with pytest.raises(NotFound):
        await store.api_token_by_hash("c" * 64)
    assert [(t.name, t.token_hash) for t in await store.api_tokens()] == [("shop", H1)]


async def test_subscriber_by_id_has_subscriptions_and_unknown_is_not_found(store: Any) -> None:
    lid = await single(store)
    sid = await subscriber(store, "Ann@Example.com", (lid,))
    found = await store.get_subscriber_by_id(sid)
    assert (found.email, [s.list_id for s in found.subscriptions]) == ("Ann@Example.com", [lid])
    with pytest.raises(NotFound):
        await store.get_subscriber_by_id(sid + 1000)
