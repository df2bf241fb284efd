"""/api/v1/lists: the mailing lists with their subscriber counts; create, change, delete; a
list's growth per day."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from campaignd.api.endpoints import Call, Endpoint
from campaignd.api.schemas import Body, Name, Page, PageQuery, Query, Text, page
from campaignd.campaigns import growth
from campaignd.campaigns import lists as cases
from campaignd.domain import MailingList, OptIn
from campaignd.errors import InvalidInput, NotFound


class ListChange(Body):
    """Only the fields given change; at least one is required (as `lists update`)."""

    name: Name | None = None
    optin: OptIn | None = None
    description: Annotated[Text, Field(max_length=2000)] | None = None
    public: bool | None = None


class NewList(Body):
    name: Name
    optin: OptIn = OptIn.SINGLE
    description: Annotated[Text, Field(max_length=2000)] = ""


class GrowthQuery(Query):
    """How many days, up to today (UTC), the growth covers."""

    days: Annotated[int, Field(ge=1, le=growth.MAX_DAYS)] = growth.DEFAULT_DAYS


async def list_growth(call: Call) -> growth.ListGrowth:
    q: GrowthQuery = call.query
    return await growth.list_growth(call.store, call.ids["list_id"], call.now(), q.days)


async def list_lists(call: Call) -> Page[MailingList]:
    return page(await call.store.lists(), lambda m: m.id, call.query)


async def get_list(call: Call) -> MailingList:
    wanted = call.ids["list_id"]
    for found in await call.store.lists():
        if found.id == wanted:
            return found
    raise NotFound(f"no list with id {wanted}")


async def update_list(call: Call) -> MailingList:
    found = await get_list(call)
    new: ListChange = call.body
    return await cases.update_list(
        call.store,
        found.name,
        new_name=new.name,
        optin=new.optin,
        description=new.description,
        public=new.public,
    )


async def delete_list(call: Call) -> MailingList:
    return await cases.delete_list(call.store, (await get_list(call)).name)


async def create_list(call: Call) -> MailingList:
    new: NewList = call.body
    name = new.name.strip()
    if not name:
        raise InvalidInput("the list name is empty", field="name")
    return await call.store.create_list(name, new.optin, new.description.strip())


ENDPOINTS = [
    Endpoint("GET", "/lists", list_lists, "Lists with subscriber counts", Page[MailingList],
             "lists", query=PageQuery),
    Endpoint("POST", "/lists", create_list, "Create a list", MailingList, "lists",
             body=NewList, status=201, write=True, idempotent=True, statuses=(409,)),
    Endpoint("GET", "/lists/{list_id}", get_list, "One list", MailingList, "lists",
             statuses=(404,)),
    Endpoint("GET", "/lists/{list_id}/growth", list_growth,
             "New subscriptions, unsubscribes and subscribers per day (UTC)",
             growth.ListGrowth, "lists", query=GrowthQuery, statuses=(404,)),
    Endpoint("PATCH", "/lists/{list_id}", update_list,
             "Rename a list or change its opt-in, description or public flag", MailingList,
             "lists", body=ListChange, write=True, statuses=(404, 409)),
    Endpoint("DELETE", "/lists/{list_id}", delete_list,
             "Delete a list and its subscriptions; 409 while an unfinished campaign uses it",
             MailingList, "lists", write=True, statuses=(404, 409)),
]  # fmt: skip
