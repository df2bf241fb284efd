"""/api/v1/subscribers: create or upsert, get by id or email, (un)subscribe lists, blocklist."""

from __future__ import annotations

import datetime as dt
import uuid as uuid_
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from campaignd.api.endpoints import Call, Endpoint
from campaignd.api.schemas import Body, Id, Page, PageQuery, Removed, Text
from campaignd.domain import Subscriber as Found
from campaignd.domain import SubscriberStatus, SubscriptionStatus
from campaignd.errors import InvalidInput, NotFound
from campaignd.subscribers import membership, query

Status = Literal["unconfirmed", "confirmed"]
Lists = Annotated[list[Id], Field(max_length=1000)]


class Subscription(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    list_id: int
    list_name: str
    status: SubscriptionStatus


class Subscriber(BaseModel):
    """As `subscribers show --json` prints it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    uuid: uuid_.UUID
    email: str
    name: str
    attributes: dict[str, Any]
    status: SubscriberStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    subscriptions: list[Subscription]


def _out(found: Found) -> Subscriber:
    return Subscriber.model_validate(found)


class NewSubscriber(Body):
    email: Annotated[Text, Field(min_length=1, max_length=320)]
    name: Annotated[Text, Field(max_length=256)] | None = None
    attributes: dict[str, Any] | None = None
    lists: Lists = Field(default_factory=list)
    status: Status = "unconfirmed"
    upsert: bool = False  # an existing address: update what is given instead of 409


class Subscribe(Body):
    lists: Lists
    status: Status = "unconfirmed"


class Unsubscribe(Body):
    lists: Lists | None = None  # null or absent: every list


class ByEmail(PageQuery):
    """`email` finds one address; otherwise `query` (the filter language of `subscribers
    query`, none: everybody) keyset-paged by id with `after` and `limit`."""

    email: Annotated[Text, Field(min_length=1, max_length=320)] | None = None
    query: Annotated[Text, Field(max_length=10_000)] | None = None


async def create_subscriber(call: Call) -> Subscriber:
    new: NewSubscriber = call.body
    found, created = await membership.add_subscriber(
        call.store,
        new.email,
        name=new.name,
        attributes=new.attributes,
        list_ids=new.lists,
        status=SubscriptionStatus(new.status),
        upsert=new.upsert,
    )
    call.status = 201 if created else 200
    return _out(found)


async def get_subscriber(call: Call) -> Subscriber:
    return _out(await call.store.get_subscriber_by_id(call.ids["subscriber_id"]))


async def find_subscribers(call: Call) -> Page[Subscriber]:
    q: ByEmail = call.query
    if q.email is None:
        found_page = await query.list_subscribers(call.store, q.query, after=q.after, limit=q.limit)
        items = [_out(s) for s in found_page.subscribers]
        return Page[Subscriber](items=items, next_after=found_page.next_after)
    if q.query is not None:
        raise InvalidInput("give email or query, not both")
    try:
        found = [_out(await call.store.get_subscriber(call.query.email))]
    except NotFound:
        found = []
    return Page[Subscriber](items=found, next_after=None)


async def subscribe_lists(call: Call) -> Subscriber:
    body: Subscribe = call.body
    return _out(
        await membership.subscribe(
            call.store, call.ids["subscriber_id"], body.lists, SubscriptionStatus(body.status)
        )
    )


async def unsubscribe_lists(call: Call) -> Removed:
    body: Unsubscribe = call.body
    changed = await membership.unsubscribe(call.store, call.ids["subscriber_id"], body.lists)
    return Removed(changed=changed)


async def blocklist_subscriber(call: Call) -> Subscriber:
    return _out(await membership.blocklist(call.store, call.ids["subscriber_id"]))


ONE = "/subscribers/{subscriber_id}"
ENDPOINTS = [
    Endpoint("POST", "/subscribers", create_subscriber,
             "Add a subscriber (201), or with upsert update an existing one (200)", Subscriber,
             "subscribers", body=NewSubscriber, status=201, write=True, idempotent=True,
             statuses=(404, 409)),
    Endpoint("GET", "/subscribers", find_subscribers,
             "Find a subscriber by address, or query them with the filter language",
             Page[Subscriber], "subscribers", query=ByEmail, statuses=(404,)),
    Endpoint("GET", ONE, get_subscriber, "One subscriber with subscriptions", Subscriber,
             "subscribers", statuses=(404,)),
    Endpoint("POST", ONE + "/lists", subscribe_lists, "Subscribe to lists", Subscriber,
             "subscribers", body=Subscribe, write=True, statuses=(404,)),
    Endpoint("DELETE", ONE + "/lists", unsubscribe_lists,
             "Unsubscribe from lists (every list without a body)", Removed, "subscribers",
             body=Unsubscribe, write=True, statuses=(404,)),
    Endpoint("POST", ONE + "/blocklist", blocklist_subscriber,
             "Blocklist: unsubscribed from every list, never mailed", Subscriber, "subscribers",
             write=True, statuses=(404,)),
]  # fmt: skip
