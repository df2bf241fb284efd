"""Self-service subscribers: the public form's sign-up and the preference page's changes.

Only lists marked public are ever offered, shown or changed here. A sign-up never says whether
the address was known: the caller checks the input (`signup_request`, `chosen_lists`, which do
not look at subscribers), answers, and only then runs `sign_up`. An existing subscriber's name
is not changed by the form (anyone can type any address), a blocklisted or disabled one is left
alone, and a subscription is never downgraded (campaignd.rules.resubscribe).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from campaignd.addresses import MAX_NAME_LENGTH, name_from_email, normalize_email
from campaignd.domain import (
    MailingList,
    NewSubscriber,
    OptIn,
    Subscriber,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.errors import Conflict, InvalidInput, NotFound
from campaignd.store.protocol import SubscriberStore

#: A form names at most this many lists; more is refused, not trimmed.
MAX_LISTS = 50
NO_LIST = "choose at least one list"


@dataclass(frozen=True, slots=True)
class SignupRequest:
    email: str
    name: str
    list_uuids: tuple[uuid.UUID, ...]


def clean_name(name: str) -> str:
    """A display name: whitespace collapsed, no control characters; raise InvalidInput."""
    text = " ".join((name or "").split())
    if any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co"} for c in text):
        raise InvalidInput("the name has control characters")
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidInput(f"the name is longer than {MAX_NAME_LENGTH} characters")
    return text


def signup_request(email: str | None, name: str | None, lists: Sequence[str]) -> SignupRequest:
    """The form's fields checked; raise InvalidInput (InvalidAddress) naming the problem.
    List values that are not uuids count as lists that are not offered."""
    address = normalize_email(email or "")
    if len(lists) > MAX_LISTS:
        raise InvalidInput(f"at most {MAX_LISTS} lists at a time")
    uuids: list[uuid.UUID] = []
    for value in lists:
        try:
            uuids.append(uuid.UUID(str(value).strip()))
        except ValueError:
            continue
    return SignupRequest(
        address, clean_name(name or "") or name_from_email(address), tuple(dict.fromkeys(uuids))
    )


async def public_lists(store: SubscriberStore) -> list[MailingList]:
    return [m for m in await store.lists() if m.public]


async def public_list(store: SubscriberStore, list_uuid: uuid.UUID) -> MailingList:
    """Raise NotFound for a list that does not exist or is not public (the same answer)."""
    for m in await public_lists(store):
        if m.uuid == list_uuid:
            return m
    raise NotFound("no such list")


async def chosen_lists(
    store: SubscriberStore, list_uuids: Iterable[uuid.UUID]
) -> tuple[MailingList, ...]:
    """The public lists among `list_uuids`; the others are ignored (nothing says whether they
    exist). Raise InvalidInput when none is left."""
    wanted = set(list_uuids)
    found = tuple(m for m in await public_lists(store) if m.uuid in wanted)
    if not found:
        raise InvalidInput(NO_LIST)
    return found


def awaiting(sub: Subscriber, lists: Iterable[MailingList]) -> tuple[int, ...]:
    """The double opt-in lists among `lists` on which `sub` is unconfirmed: what a
    confirmation message should name."""
    status = {s.list_id: s.status for s in sub.subscriptions}
    return tuple(
        m.id
        for m in lists
        if m.optin is OptIn.DOUBLE and status.get(m.id) is SubscriptionStatus.UNCONFIRMED
    )


async def sign_up(
    store: SubscriberStore, request: SignupRequest, lists: Sequence[MailingList], now: dt.datetime
) -> tuple[Subscriber, tuple[int, ...]] | None:
    """Subscribe the address (a new subscriber, or an existing enabled one) to `lists`;
    return it with the lists a confirmation message must name, or None when nothing is done
    (blocklisted or disabled)."""
    ids = [m.id for m in lists]
    try:
        sub = await store.get_subscriber(request.email)
    except NotFound:
        try:
            sub = await store.add_subscriber(
                NewSubscriber(request.email, request.name), ids, SubscriptionStatus.UNCONFIRMED
            )
            return sub, awaiting(sub, lists)
        except Conflict:  # signed up at the same moment by another request
            sub = await store.get_subscriber(request.email)
    if sub.status is not SubscriberStatus.ENABLED:
        return None
    await store.subscribe(sub.id, ids, now)
    sub = await store.get_subscriber_by_uuid(sub.uuid)
    return sub, awaiting(sub, lists)


@dataclass(frozen=True, slots=True)
class Preference:
    list: MailingList
    subscribed: bool  # a subscription that is not unsubscribed


async def preferences(store: SubscriberStore, sub: Subscriber) -> list[Preference]:
    """Every public list, and whether the subscriber is on it."""
    status = {s.list_id: s.status for s in sub.subscriptions}
    return [
        Preference(m, status.get(m.id, SubscriptionStatus.UNSUBSCRIBED) is not _OFF)
        for m in await public_lists(store)
    ]


_OFF = SubscriptionStatus.UNSUBSCRIBED


async def update_preferences(
    store: SubscriberStore,
    sub: Subscriber,
    name: str | None,
    wanted: Iterable[uuid.UUID],
    now: dt.datetime,
) -> tuple[Subscriber, tuple[int, ...]]:
    """Set the name (when given) and the public lists the subscriber is on: those in `wanted`
    are subscribed, the other public ones unsubscribed; lists that are not public are left
    alone. Return the subscriber as it is now and the lists awaiting confirmation among the
    newly subscribed ones. Raise InvalidInput (nothing changed) for a bad name."""
    new_name = None if name is None else clean_name(name)
    if new_name == "":
        raise InvalidInput("the name is empty")
    wanted_set = set(wanted)
    prefs = await preferences(store, sub)
    add = [p.list for p in prefs if p.list.uuid in wanted_set and not p.subscribed]
    drop = [p.list.id for p in prefs if p.list.uuid not in wanted_set and p.subscribed]
    if new_name is not None and new_name != sub.name:
        await store.set_subscriber_name(sub.id, new_name, now)
    if add and sub.status is SubscriberStatus.ENABLED:
        await store.subscribe(sub.id, [m.id for m in add], now)
    if drop:
        await store.unsubscribe(sub.id, drop)
    fresh = await store.get_subscriber_by_uuid(sub.uuid)
    return fresh, awaiting(fresh, add)
