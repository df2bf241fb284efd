"""The Store contract for the public pages: list uuids and the public flag, archived campaigns,
subscribing by the subscriber's own request, renaming and deleting a subscriber."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from campaignd.domain import NewCampaign, OptIn, SubscriptionStatus
from campaignd.errors import NotFound
from tests.integration.store_fixtures import double, single, store, store_url, subscriber

__all__ = ["store", "store_url"]  # fixtures

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
CONFIRMED = SubscriptionStatus.CONFIRMED
UNCONFIRMED = SubscriptionStatus.UNCONFIRMED
UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED


def statuses(sub: Any) -> dict[int, SubscriptionStatus]:
    return {s.list_id: s.status for s in sub.subscriptions}


async def test_lists_have_a_uuid_and_a_public_flag(store: Any) -> None:
    made = await store.create_list("open", OptIn.DOUBLE, "", public=True)
    closed = await store.create_list("closed", OptIn.SINGLE, "")
    assert made.public and not closed.public
    assert made.uuid is not None and closed.uuid is not None and made.uuid != closed.uuid
    found = {m.name: m for m in await store.lists()}
    assert (found["open"].public, found["open"].uuid) == (True, made.uuid)
    assert (found["closed"].public, found["closed"].uuid) == (False, closed.uuid)
    assert (await store.get_list("open")).uuid == made.uuid


async def test_set_list_public(store: Any) -> None:
    made = await store.create_list("l", OptIn.SINGLE, "kept")
    await subscriber(store, "x@example.com", (made.id,))
    public = await store.set_list_public(made.id, True)
    assert (public.public, public.description, public.uuid) == (True, "kept", made.uuid)
    assert public.subscriber_count == 1
    assert (await store.get_list("l")).public is True
    assert (await store.set_list_public(made.id, False)).public is False
    assert (await store.get_list("l")).public is False
    with pytest.raises(NotFound):
        await store.set_list_public(999, True)


async def test_campaigns_keep_the_archive_flag(store: Any) -> None:
    await single(store, "l")
    new = NewCampaign(name="a", subject="s", from_email="me@example.com", body="b", lists=("l",))
    archived = await store.create_campaign(dataclasses.replace(new, archive=True), None)
    plain = await store.create_campaign(new, None)
    assert (await store.get_campaign(archived.id)).archive is True
    assert (await store.get_campaign(plain.id)).archive is False
    assert (await store.get_campaign_by_uuid(archived.uuid)).archive is True
    assert (await store.set_campaign_archive(plain.id, True)).archive is True
    assert (await store.set_campaign_archive(archived.id, False)).archive is False
    assert [c.archive for c in await store.campaigns()] == [False, True]
    with pytest.raises(NotFound):
        await store.set_campaign_archive(999, True)


async def test_subscribe_adds_and_resubscribes_but_never_downgrades(store: Any) -> None:
    a = await double(store, "a")
    b = await single(store, "b")
    c = await double(store, "c")
    d = await single(store, "d")
    sid = await subscriber(store, "x@example.com", (a,), CONFIRMED)
    await store.subscribe(sid, [c], T0)
    await store.unsubscribe(sid, [c])
    # a confirmed: unchanged; b new: unconfirmed; c unsubscribed: unconfirmed again.
    assert await store.subscribe(sid, [a, b, c, b], T0) == 2
    got = statuses(await store.get_subscriber("x@example.com"))
    assert got == {a: CONFIRMED, b: UNCONFIRMED, c: UNCONFIRMED}
    assert await store.subscribe(sid, [a, b, c], T0) == 0
    with pytest.raises(NotFound):
        await store.subscribe(sid, [d, 999], T0)
    assert d not in statuses(await store.get_subscriber("x@example.com"))
    with pytest.raises(NotFound):
        await store.subscribe(12345, [d], T0)


async def test_rename_a_subscriber(store: Any) -> None:
    lid = await single(store, "l")
    sid = await subscriber(store, "x@example.com", (lid,), name="Old")
    await store.set_subscriber_name(sid, "New Name", T0)
    assert (await store.get_subscriber("x@example.com")).name == "New Name"
    with pytest.raises(NotFound):
        await store.set_subscriber_name(9999, "n", T0)
