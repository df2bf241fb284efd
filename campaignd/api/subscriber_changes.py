"""/api/v1/subscribers: update, unblocklist, delete, wipe and export, by the CLI's use cases."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from campaignd.api.endpoints import Call, Endpoint
from campaignd.api.schemas import Body, Id, Removed, Text
from campaignd.api.subscribers import Subscriber, _out
from campaignd.domain import SubscriberStatus
from campaignd.subscribers import manage
from campaignd.subscribers.personal import export_data


class SubscriberChange(Body):
    """Only the fields given change (as `subscribers update`); `attributes` replaces them all,
    `merge_attributes` changes the keys it names."""

    email: Annotated[Text, Field(min_length=1, max_length=320)] | None = None
    name: Annotated[Text, Field(max_length=256)] | None = None
    attributes: dict[str, Any] | None = None
    merge_attributes: dict[str, Any] | None = None
    status: SubscriberStatus | None = None


class Ids(Body):
    ids: Annotated[list[Id], Field(min_length=1, max_length=10_000)]


class WipedOut(BaseModel):
    email: str
    ledger_rows: int


async def _email(call: Call) -> str:
    return (await call.store.get_subscriber_by_id(call.ids["subscriber_id"])).email


async def update_subscriber(call: Call) -> Subscriber:
    b: SubscriberChange = call.body
    email = await _email(call)
    await manage.update(
        call.store,
        email,
        call.now(),
        name=b.name,
        attributes=b.attributes,
        merge_attributes=b.merge_attributes,
        status=b.status,
        new_email=b.email,
    )
    return _out(await call.store.get_subscriber_by_id(call.ids["subscriber_id"]))


async def unblocklist_subscriber(call: Call) -> Subscriber:
    await manage.unblocklist(call.store, await _email(call), call.now())
    return _out(await call.store.get_subscriber_by_id(call.ids["subscriber_id"]))


async def delete_subscribers(call: Call) -> Removed:
    body: Ids = call.body
    ids = list(dict.fromkeys(body.ids))
    for sid in ids:  # every id must exist: all or none
        await call.store.get_subscriber_by_id(sid)
    return Removed(changed=await manage.delete(call.store, ids, call.now()))


async def wipe_subscriber(call: Call) -> WipedOut:
    wiped = await manage.wipe(call.store, await _email(call), call.now())
    return WipedOut(email=wiped.email, ledger_rows=wiped.ledger_rows)


async def export_subscriber(call: Call) -> dict[str, Any]:
    return await export_data(call.store, await _email(call), call.now())


ONE = "/subscribers/{subscriber_id}"
ENDPOINTS = [
    Endpoint("PATCH", ONE, update_subscriber,
             "Change the address, name, attributes or status", Subscriber, "subscribers",
             body=SubscriberChange, write=True, statuses=(404, 409)),
    Endpoint("POST", ONE + "/unblocklist", unblocklist_subscriber,
             "Enable a blocklisted subscriber again (subscriptions stay unsubscribed)",
             Subscriber, "subscribers", write=True, statuses=(404,)),
    Endpoint("DELETE", "/subscribers", delete_subscribers,
             "Delete subscribers by id, all or none; their ledger rows stay", Removed,
             "subscribers", body=Ids, write=True, statuses=(404,)),
    Endpoint("POST", ONE + "/wipe", wipe_subscriber,
             "GDPR erasure: delete and erase the address from the kept replies", WipedOut,
             "subscribers", write=True, statuses=(404,)),
    Endpoint("GET", ONE + "/export", export_subscriber,
             "Everything held about the subscriber (as `subscribers export-data`)",
             dict[str, Any], "subscribers", statuses=(404,)),
]  # fmt: skip
