"""The subscriber management use cases on the in-memory store: validation before any write,
merging attributes, deleting by ids, exporting page by page."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest

from campaignd.domain import NewSubscriber, OptIn, SubscriberStatus, SubscriptionStatus
from campaignd.errors import Conflict, InvalidAddress, InvalidInput, NotFound
from campaignd.importing.export import write_csv
from campaignd.rules import ERASED_ADDRESS, erase_address
from campaignd.store.memory import MemoryStore
from campaignd.subscribers import manage
from campaignd.subscribers.personal import export_data

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


async def people(*emails: str) -> MemoryStore:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "")
    for email in emails:
        await store.add_subscriber(
            NewSubscriber(email, email.split("@")[0], {"city": "Oslo", "n": 1}),
            [news.id],
            SubscriptionStatus.CONFIRMED,
        )
    return store


async def test_merge_keeps_other_keys_and_replace_drops_them() -> None:
    store = await people("ann@example.com")
    merged = await manage.update(store, "ann@example.com", NOW, merge_attributes={"n": 2})
    assert merged.attributes == {"city": "Oslo", "n": 2}
    replaced = await manage.update(store, "ann@example.com", NOW, attributes={"n": 3})
    assert replaced.attributes == {"n": 3}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({}, InvalidInput),
        ({"attributes": {}, "merge_attributes": {}}, InvalidInput),
        ({"merge_attributes": {"big": "x" * manage.MAX_ATTRIBUTES}}, InvalidInput),
        ({"name": "n" * 257}, InvalidInput),
        ({"new_email": "no-at-sign", "name": "x"}, InvalidAddress),
        ({"new_email": "BOB@example.com", "name": "x"}, Conflict),
    ],
)
async def test_bad_updates_change_nothing(changes: dict[str, Any], error: type[Exception]) -> None:
    store = await people("ann@example.com", "bob@example.com")
    before = await store.get_subscriber("ann@example.com")
    with pytest.raises(error):
        await manage.update(store, "ann@example.com", NOW, **changes)
    assert await store.get_subscriber("ann@example.com") == before


def test_json_object_names_the_option() -> None:
    assert manage.json_object(" ", "--x") == {}
    with pytest.raises(InvalidInput, match="--merge-attributes must be a JSON object"):
        manage.json_object("[1]", "--merge-attributes")
    with pytest.raises(InvalidInput, match="--x is not valid JSON"):
        manage.json_object("{", "--x")
    with pytest.raises(InvalidInput, match="--x is not valid JSON"):
        manage.json_object("[" * 30_000, "--x")


async def test_resolve_names_every_unknown_address_and_delete_takes_ids() -> None:
    store = await people("ann@example.com", "bob@example.com", "cat@example.com")
    with pytest.raises(NotFound, match=r"no subscriber x@example\.com, y@example\.com"):
        await manage.resolve(store, ["ann@example.com", "x@example.com", "y@example.com"])
    ids = await manage.resolve(store, ["ANN@example.com", "bob@example.com", "ann@example.com"])
    assert len(ids) == 2
    assert await manage.delete(store, ids, NOW) == 2
    assert [s.email for s in await store.subscribers_page()] == ["cat@example.com"]
    with pytest.raises(InvalidInput):
        await manage.delete(store, [], NOW)


async def test_blocklist_creates_then_blocklists_and_unblocklist_needs_blocklisted() -> None:
    store = await people("ann@example.com")
    made = await manage.blocklist(store, "New@Example.com")
    assert made.created and made.subscriber.status is SubscriberStatus.BLOCKLISTED
    again = await manage.blocklist(store, "new@example.com")
    assert not again.created
    with pytest.raises(InvalidInput, match="not blocklisted"):
        await manage.unblocklist(store, "ann@example.com", NOW)
    await manage.blocklist(store, "ann@example.com")
    back = await manage.unblocklist(store, "ann@example.com", NOW)
    assert back.status is SubscriberStatus.ENABLED
    assert [s.status for s in back.subscriptions] == [SubscriptionStatus.UNSUBSCRIBED]


class CountingStore(MemoryStore):
    """Records the page sizes asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.limits: list[int] = []

    async def subscribers_page(self, **kwargs: Any) -> Any:
        self.limits.append(kwargs["limit"])
        return await super().subscribers_page(**kwargs)


async def test_export_reads_bounded_pages() -> None:
    store = CountingStore()
    for i in range(7):
        await store.add_subscriber(NewSubscriber(f"s{i}@example.com", f"S{i}"), [], "confirmed")
    out = io.StringIO()
    assert await write_csv(store, out, page_size=3) == 7
    assert store.limits == [3, 3, 3]
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert [r[0] for r in rows[1:]] == [f"s{i}@example.com" for i in range(7)]


async def test_export_data_shape() -> None:
    store = await people("ann@example.com")
    data = await export_data(store, "ANN@example.com", NOW)
    assert set(data) == {"exported_at", "profile", "subscriptions", "optin_sent_at", "ledger",
                         "bounces"}  # fmt: skip
    assert data["profile"]["email"] == "ann@example.com"
    assert data["subscriptions"][0]["list_name"] == "news"
    with pytest.raises(NotFound):
        await export_data(store, "nobody@example.com", NOW)


@pytest.mark.parametrize(
    ("text", "address", "erased"),
    [
        ("550 <ANN@Example.com> unknown", "ann@example.com", "550 <{}> unknown"),
        ("550 x@xn--fa-hia.de: no such user; x@faß.de", "x@faß.de", "550 {}: no such user; {}"),
        ("250 ok", "ann@example.com", "250 ok"),
        ("550 ann@example.com.evil", "ann@example.com", "550 {}.evil"),
    ],
)
def test_erase_address_replaces_every_spelling(text: str, address: str, erased: str) -> None:
    assert erase_address(text, address) == erased.format(ERASED_ADDRESS, ERASED_ADDRESS)
