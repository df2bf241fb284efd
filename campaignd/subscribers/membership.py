"""Subscriber use cases for one person: add or upsert, subscribe to and unsubscribe from lists,
blocklist. Checked before anything is written, so a refused request changes nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from campaignd.addresses import MAX_NAME_LENGTH, name_from_email, normalize_email
from campaignd.domain import (
    ImportOptions,
    NewSubscriber,
    Subscriber,
    SubscriberStatus,
    SubscriptionStatus,
    check_attributes,
)
from campaignd.errors import InvalidAddress, InvalidInput, NotFound
from campaignd.store.protocol import SubscriberStore


async def require_lists(store: SubscriberStore, list_ids: Sequence[int]) -> list[int]:
    """The ids, once each; NotFound naming the unknown ones."""
    known = await store.list_names()
    wanted = list(dict.fromkeys(list_ids))
    missing = [i for i in wanted if i not in known]
    if missing:
        raise NotFound(f"no list with id {', '.join(map(str, missing))}", field="lists")
    return wanted


def _checked(email: str, name: str | None, attributes: Mapping[str, Any] | None) -> NewSubscriber:
    try:
        address = normalize_email(email)  # InvalidAddress names the problem
    except InvalidAddress as exc:
        exc.field = "email"
        raise
    display = (name or "").strip() or name_from_email(address)
    if len(display) > MAX_NAME_LENGTH:
        raise InvalidInput(f"name is longer than {MAX_NAME_LENGTH} characters", field="name")
    attrs = dict(attributes or {})
    check_attributes(attrs)
    return NewSubscriber(address, display, attrs)


async def add_subscriber(
    store: SubscriberStore,
    email: str,
    *,
    name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    list_ids: Sequence[int] = (),
    status: SubscriptionStatus = SubscriptionStatus.UNCONFIRMED,
    upsert: bool = False,
) -> tuple[Subscriber, bool]:
    """Add a subscriber (Conflict if the address exists), or with `upsert` update the name
    and attributes given and add the lists; return the subscriber and whether it is new."""
    if status is SubscriptionStatus.UNSUBSCRIBED:
        raise InvalidInput("status must be unconfirmed or confirmed", field="status")
    row = _checked(email, name, attributes)
    ids = await require_lists(store, list_ids)
    if not upsert:
        return await store.add_subscriber(row, ids, status), True
    fields = frozenset(
        f
        for f, given in (("name", name is not None), ("attributes", attributes is not None))
        if given
    )
    options = ImportOptions(
        list_ids=tuple(ids), status=status, overwrite_info=bool(fields), info_fields=fields
    )
    counts = await store.import_batch([row], options)
    return await store.get_subscriber(row.email), counts.inserted == 1


async def subscribe(
    store: SubscriberStore,
    subscriber_id: int,
    list_ids: Sequence[int],
    status: SubscriptionStatus = SubscriptionStatus.UNCONFIRMED,
) -> Subscriber:
    """Put the subscriber on the lists with `status`: new lists, lists they had unsubscribed
    from, and unconfirmed ones when `status` is confirmed; a confirmed subscription is never
    turned back into an unconfirmed one."""
    if status is SubscriptionStatus.UNSUBSCRIBED:
        raise InvalidInput(
            "status must be unconfirmed or confirmed; to unsubscribe, DELETE", field="status"
        )
    found = await store.get_subscriber_by_id(subscriber_id)
    ids = await require_lists(store, list_ids)
    if not ids:
        raise InvalidInput("name at least one list", field="lists")
    if found.status is SubscriberStatus.BLOCKLISTED:
        raise InvalidInput(f"{found.email} is blocklisted and cannot be subscribed")
    current = {sub.list_id: sub.status for sub in found.subscriptions}
    upgrade = {None, SubscriptionStatus.UNSUBSCRIBED}
    if status is SubscriptionStatus.CONFIRMED:
        upgrade.add(SubscriptionStatus.UNCONFIRMED)
    changing = tuple(i for i in ids if current.get(i) in upgrade)
    if not changing:
        return found
    row = NewSubscriber(found.email, found.name, found.attributes)
    await store.import_batch(
        [row], ImportOptions(list_ids=changing, status=status, overwrite_status=True)
    )
    return await store.get_subscriber_by_id(subscriber_id)


async def unsubscribe(
    store: SubscriberStore, subscriber_id: int, list_ids: Sequence[int] | None
) -> int:
    """Unsubscribe from the lists (every list when None); a list the subscriber is not on is
    refused and nothing changes. Return how many subscriptions changed."""
    found = await store.get_subscriber_by_id(subscriber_id)
    ids = None if list_ids is None else await require_lists(store, list_ids)
    if ids is not None:
        on = {s.list_id for s in found.subscriptions}
        missing = [i for i in ids if i not in on]
        if missing:
            raise InvalidInput(
                f"{found.email} is not on the list(s) with id {', '.join(map(str, missing))}"
            )
    return await store.unsubscribe(found.id, ids)


async def blocklist(store: SubscriberStore, subscriber_id: int) -> Subscriber:
    """No campaign reaches the subscriber, who is unsubscribed from every list."""
    found = await store.get_subscriber_by_id(subscriber_id)
    await store.set_subscriber_status(found.email, SubscriberStatus.BLOCKLISTED)
    return await store.get_subscriber_by_id(subscriber_id)
