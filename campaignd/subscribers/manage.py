"""Managing one subscriber or several: update, blocklist, unblocklist, delete, wipe (GDPR)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from campaignd.addresses import MAX_NAME_LENGTH, name_from_email, normalize_email
from campaignd.domain import (
    MAX_ATTRIBUTES,
    ImportMode,
    ImportOptions,
    NewSubscriber,
    Subscriber,
    SubscriberStatus,
    SubscriberUpdate,
    check_attributes,
    strict_loads,
)
from campaignd.errors import InvalidAddress, InvalidInput, NotFound
from campaignd.store.protocol import SubscriberStore


def json_object(value: str, option: str) -> dict[str, Any]:
    """`value` (an option's text) as a JSON object; InvalidInput naming `option` otherwise."""
    if len(value.encode("utf-8")) > MAX_ATTRIBUTES:
        raise InvalidInput(f"{option} is larger than {MAX_ATTRIBUTES} bytes")
    parsed = strict_loads(value, option) if value.strip() else {}
    if not isinstance(parsed, dict):
        raise InvalidInput(f'{option} must be a JSON object, such as {{"city": "Oslo"}}')
    check_attributes(parsed)
    return parsed


def display_name(name: str | None, address: str, option: str = "--name") -> str:
    """The name to store: `name` stripped, or derived from the address when empty."""
    shown = (name or "").strip() or name_from_email(address)
    if len(shown) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{option} is longer than {MAX_NAME_LENGTH} characters", field="name")
    return shown


async def update(
    store: SubscriberStore,
    email: str,
    now: dt.datetime,
    *,
    name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    merge_attributes: Mapping[str, Any] | None = None,
    status: SubscriberStatus | None = None,
    new_email: str | None = None,
) -> Subscriber:
    """Change the subscriber `email`: name (empty: derived from the address), attributes
    (replaced, or merged key by key at the top level), status, address. Everything is checked
    before anything is written; NotFound, Conflict (address taken) or InvalidInput otherwise."""
    if all(v is None for v in (name, attributes, merge_attributes, status, new_email)):
        raise InvalidInput("nothing to change: give a name, attributes, a status or an address")
    if attributes is not None and merge_attributes is not None:
        raise InvalidInput("give attributes to replace or attributes to merge, not both")
    found = await store.get_subscriber(email)
    try:
        address = normalize_email(new_email) if new_email is not None else None
    except InvalidAddress as exc:
        exc.field = "email"
        raise
    new_name = None if name is None else display_name(name, address or found.email)
    if merge_attributes is not None:
        check_attributes(merge_attributes, "merge_attributes")
        attributes = {**found.attributes, **merge_attributes}
    if attributes is not None:
        check_attributes(attributes)
    change = SubscriberUpdate(address, new_name, attributes, status)
    return await store.update_subscriber(found.id, change, now)


@dataclass(frozen=True, slots=True)
class Blocklisted:
    subscriber: Subscriber
    created: bool  # the address was unknown: a blocklisted record was made for it


async def blocklist(store: SubscriberStore, email: str) -> Blocklisted:
    """Blocklist `email`, unsubscribing it from every list; an unknown address gets a
    blocklisted record (as `subscribers import --mode blocklist`) so it is never mailed."""
    try:
        found = await store.set_subscriber_status(email, SubscriberStatus.BLOCKLISTED)
        return Blocklisted(found, created=False)
    except NotFound:
        address = normalize_email(email)
    row = NewSubscriber(address, name_from_email(address), {})
    counts = await store.import_batch([row], ImportOptions(mode=ImportMode.BLOCKLIST))
    return Blocklisted(await store.get_subscriber(address), created=counts.inserted == 1)


async def unblocklist(store: SubscriberStore, email: str, now: dt.datetime) -> Subscriber:
    """A blocklisted subscriber becomes enabled again; the subscriptions stay unsubscribed
    (blocklisting ended them; the person subscribes again). Refused unless blocklisted."""
    found = await store.get_subscriber(email)
    if found.status is not SubscriberStatus.BLOCKLISTED:
        raise InvalidInput(f"{found.email} is not blocklisted (status {found.status.value})")
    change = SubscriberUpdate(status=SubscriberStatus.ENABLED)
    return await store.update_subscriber(found.id, change, now)


async def resolve(store: SubscriberStore, emails: Sequence[str]) -> list[int]:
    """The ids of the subscribers `emails` (case-insensitive), in the given order without
    repeats; NotFound naming every unknown address."""
    wanted = list(dict.fromkeys(e.strip().lower() for e in emails if e.strip()))
    if not wanted:
        raise InvalidInput("no address given")
    found = await store.subscriber_ids(wanted)
    unknown = [e for e in wanted if e not in found]
    if unknown:
        shown = ", ".join(unknown[:20]) + (f" and {len(unknown) - 20} more" if unknown[20:] else "")
        raise NotFound(f"no subscriber {shown}")
    return [found[e] for e in wanted]


async def delete(store: SubscriberStore, subscriber_ids: Sequence[int], now: dt.datetime) -> int:
    """Delete the subscribers (all or none, one transaction) with their subscriptions, opt-in
    marks and bounces; return how many. Their ledger rows stay, so campaign counts stay exact,
    detached from the person; those still to send are skipped. Takes ids so any selection
    (addresses through `resolve`, a filter) deletes the same way."""
    if not subscriber_ids:
        raise InvalidInput("no subscriber to delete")
    return await store.delete_subscribers(subscriber_ids, now)


@dataclass(frozen=True, slots=True)
class Wiped:
    email: str
    ledger_rows: int  # kept for the campaign counts, anonymous


async def wipe(store: SubscriberStore, email: str, now: dt.datetime) -> Wiped:
    """GDPR erasure of `email`: delete as `delete` does and erase the address from the server
    replies kept in its ledger rows, so nothing in the database names the person."""
    found = await store.get_subscriber(email)
    kept = await store.wipe_subscriber(found.id, now)
    return Wiped(found.email, kept)
