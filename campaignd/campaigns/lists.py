"""List use cases: create, rename or change (names unique ignoring case), delete when unused."""

from __future__ import annotations

from campaignd.domain import MailingList, OptIn
from campaignd.errors import InvalidInput, NotFound
from campaignd.policy import LIST_USERS
from campaignd.rules import in_use, name_key
from campaignd.store.protocol import Store

MAX_LIST_NAME = 200


def list_name(name: str) -> str:
    """The name as stored (trimmed); InvalidInput if empty or too long."""
    name = name.strip()
    if not name:
        raise InvalidInput("the list name is empty", field="name")
    if len(name) > MAX_LIST_NAME:
        raise InvalidInput(f"the list name is longer than {MAX_LIST_NAME} characters", field="name")
    return name


async def find_list(store: Store, name: str) -> MailingList:
    """The list NAME; NotFound says which list was meant when only the case differs."""
    try:
        return await store.get_list(name)
    except NotFound:
        same = [m.name for m in await store.lists() if name_key(m.name) == name_key(name)]
        if same:
            raise NotFound(f"no list named {name!r} (did you mean {same[0]!r}?)") from None
        raise


async def create_list(
    store: Store, name: str, optin: OptIn, description: str, *, public: bool = False
) -> MailingList:
    """A new list; Conflict if one has the name in any case ("News" when "news" exists).
    A `public` list is offered by the subscription form and the preference page."""
    return await store.create_list(
        list_name(name), OptIn(optin), description.strip(), public=public
    )


async def update_list(
    store: Store,
    name: str,
    *,
    new_name: str | None = None,
    optin: OptIn | None = None,
    description: str | None = None,
    public: bool | None = None,
) -> MailingList:
    """Rename the list NAME or change its opt-in, description or whether it is public.
    Switching to double opt-in means only confirmed subscriptions receive its campaigns from
    then on."""
    if new_name is None and optin is None and description is None and public is None:
        raise InvalidInput(
            f"nothing to change in list {name!r}: give --name, --optin, --description or "
            "--public/--private"
        )
    found = await find_list(store, name)
    changed = found
    if new_name is not None or optin is not None or description is not None:
        changed = await store.update_list(
            found.id,
            name=None if new_name is None else list_name(new_name),
            optin=None if optin is None else OptIn(optin),
            description=None if description is None else description.strip(),
        )
    if public is not None:
        changed = await store.set_list_public(found.id, public)
    return changed


async def delete_list(store: Store, name: str) -> MailingList:
    """Delete the list and its subscriptions (the subscribers stay). Refused, naming them,
    while a draft, scheduled, running or paused campaign uses it; finished and cancelled
    campaigns keep their ledger but lose the link to the list."""
    found = await find_list(store, name)
    await check_deletable(store, found)
    return await store.delete_list(found.id, LIST_USERS)


async def check_deletable(store: Store, found: MailingList) -> None:
    """Conflict naming the campaigns that keep the list from being deleted (asked before a
    confirmation prompt; the store checks again as it deletes)."""
    users = [
        (c.id, c.name, c.status)
        for c in await store.campaigns()
        if found.id in c.list_ids and c.status in LIST_USERS
    ]
    if users:
        raise in_use(f"list {found.name!r}", users)
