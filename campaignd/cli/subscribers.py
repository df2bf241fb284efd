"""`campaignd subscribers`: add, show, blocklist and unsubscribe one subscriber (the other
commands: cli/importing.py, cli/subscribers_manage.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from campaignd.addresses import normalize_email
from campaignd.bounces.report import campaign_label, one_line, subscriber_bounces
from campaignd.cli.common import (
    AppContext,
    async_command,
    fail,
    open_store,
    pass_app,
    print_json,
    print_table,
    to_jsonable,
)
from campaignd.cli.lazy import LazyGroup
from campaignd.domain import Bounce, NewSubscriber, SubscriptionStatus
from campaignd.errors import NotFound
from campaignd.store.protocol import Store
from campaignd.subscribers import manage

_MANAGE = "campaignd.cli.subscribers_manage"


@click.group(
    cls=LazyGroup,
    lazy={
        "import": "campaignd.cli.importing:import_cmd",
        "ls": "campaignd.cli.subscriber_query:ls_cmd",
        "update": f"{_MANAGE}:update_cmd",
        "unblocklist": f"{_MANAGE}:unblocklist_cmd",
        "delete": f"{_MANAGE}:delete_cmd",
        "wipe": f"{_MANAGE}:wipe_cmd",
        "export": f"{_MANAGE}:export_cmd",
        "export-data": f"{_MANAGE}:export_data_cmd",
    },
)
def subscribers() -> None:
    """Add, import, list, show, update, blocklist, unsubscribe, delete and export subscribers."""


def _attributes(value: str | None) -> Mapping[str, Any]:
    return {} if value is None else manage.json_object(value, "--attributes")


async def _list_ids(store: Store, names: Sequence[str]) -> list[int]:
    """The ids of the named lists; NotFound for an unknown one (before anything is written)."""
    return [(await store.get_list(name)).id for name in dict.fromkeys(names)]


@subscribers.command("add")
@click.argument("email")
@click.option("--name", help="Display name; default: derived from the address.")
@click.option("--attributes", help='A JSON object, e.g. \'{"city": "Oslo"}\'.')
@click.option("--list", "list_names", multiple=True, help="A list to subscribe to (repeatable).")
@click.option(
    "--status",
    type=click.Choice([SubscriptionStatus.UNCONFIRMED.value, SubscriptionStatus.CONFIRMED.value]),
    default=SubscriptionStatus.UNCONFIRMED.value,
    show_default=True,
    help="Subscription status on the given lists.",
)
@pass_app
@async_command
async def add(
    app: AppContext,
    email: str,
    name: str | None,
    attributes: str | None,
    list_names: tuple[str, ...],
    status: str,
) -> None:
    """Add the subscriber EMAIL, optionally to lists."""
    address = normalize_email(email)  # InvalidAddress: one line, exit 1
    display = manage.display_name(name, address)
    attrs = _attributes(attributes)
    async with open_store(app.settings) as store:
        list_ids = await _list_ids(store, list_names)
        added = await store.add_subscriber(
            NewSubscriber(address, display, attrs), list_ids, SubscriptionStatus(status)
        )
    on = f" on {', '.join(s.list_name for s in added.subscriptions)}" if list_ids else ""
    click.echo(f"added subscriber {added.email} (id {added.id}){on}")


@subscribers.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print the subscriber as JSON.")
@pass_app
@async_command
async def show(app: AppContext, email: str, as_json: bool) -> None:
    """Show the subscriber EMAIL (case-insensitive), their subscriptions and their bounces."""
    async with open_store(app.settings) as store:
        found = await store.get_subscriber(email)
        bounces = await subscriber_bounces(store, found.id)
    if as_json:
        print_json({**to_jsonable(found), "bounces": [_bounce_json(b) for b in bounces]})
        return
    print_table(
        ["field", "value"],
        [
            ("id", found.id),
            ("uuid", found.uuid),
            ("email", found.email),
            ("name", found.name),
            ("status", found.status),
            ("attributes", dict(found.attributes)),
            ("created", found.created_at),
            ("updated", found.updated_at),
        ],
    )
    click.echo()
    print_table(
        ["list_id", "list", "subscription"],
        [(s.list_id, s.list_name, s.status) for s in found.subscriptions],
    )
    click.echo()
    if not bounces:
        click.echo("bounces: none recorded")
        return
    print_table(
        ["bounced", "kind", "campaign", "source", "reason"],
        [
            (b.created_at, b.kind, campaign_label(b), b.source, one_line(b.reason, 100))
            for b in bounces
        ],
    )


def _bounce_json(bounce: Bounce) -> dict[str, Any]:
    """A bounce in `subscribers show --json` (the person's own fields left out)."""
    return {
        "id": bounce.id,
        "kind": bounce.kind,
        "source": bounce.source,
        "reason": bounce.reason,
        "campaign_id": bounce.campaign_id,
        "campaign_name": bounce.campaign_name,
        "created_at": bounce.created_at,
    }


@subscribers.command("blocklist")
@click.argument("email")
@pass_app
@async_command
async def blocklist(app: AppContext, email: str) -> None:
    """Blocklist EMAIL: no campaign reaches it, and it is unsubscribed from every list.

    An unknown address is added as blocklisted (as `subscribers import --mode blocklist`).
    """
    from campaignd.subscribers.manage import blocklist as blocklist_address

    async with open_store(app.settings) as store:
        done = await blocklist_address(store, email)
    if done.created:
        click.echo(f"blocklisted {done.subscriber.email}: a new, blocklisted record")
        return
    click.echo(f"blocklisted {done.subscriber.email}; unsubscribed from every list")


@subscribers.command("unsubscribe")
@click.argument("email")
@click.option("--list", "list_names", multiple=True, help="Only this list (repeatable).")
@pass_app
@async_command
async def unsubscribe(app: AppContext, email: str, list_names: tuple[str, ...]) -> None:
    """Unsubscribe EMAIL from the given lists, or from every list.

    A list EMAIL is not on is refused (exit 1) and nothing changes.
    """
    async with open_store(app.settings) as store:
        found = await store.get_subscriber(email)
        list_ids = await _named_list_ids(store, list_names) if list_names else None
        if list_ids is not None:
            on = {s.list_id for s in found.subscriptions}
            missing = [
                n for n, i in zip(dict.fromkeys(list_names), list_ids, strict=True) if i not in on
            ]
            if missing:
                which = ", ".join(repr(n) for n in missing)
                fail(f"{found.email} is not on the list{'s' if len(missing) > 1 else ''} {which}")
        changed = await store.unsubscribe(found.id, list_ids)
    where = ", ".join(dict.fromkeys(list_names)) if list_names else "every list"
    click.echo(f"unsubscribed {found.email} from {where} ({changed} subscription(s) changed)")


async def _named_list_ids(store: Store, names: Sequence[str]) -> list[int]:
    """``_list_ids``; an unknown name is refused with the names of the lists there are."""
    try:
        return await _list_ids(store, names)
    except NotFound as exc:
        existing = sorted((await store.list_names()).values())
        shown = ", ".join(repr(n) for n in existing[:20]) if existing else "none"
        more = f" and {len(existing) - 20} more" if len(existing) > 20 else ""
        raise NotFound(f"{exc}; the lists are: {shown}{more}") from None
