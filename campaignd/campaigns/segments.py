"""Campaign segments: the filter a campaign's recipients must also match, checked and counted."""

from __future__ import annotations

from collections.abc import Collection

from campaignd.domain import Campaign, MailingList, SubscriberStatus, SubscriptionStatus
from campaignd.errors import InvalidInput, NotFound
from campaignd.filters import And, Compare, Member, Node, Or, parse, parse_checked
from campaignd.rules import receives
from campaignd.store.protocol import SubscriberStore


def check_segment(segment: str, lists: Collection[str]) -> Node:
    """The parsed segment; one-line InvalidInput/NotFound naming `--segment` otherwise."""
    if not segment.strip():
        raise InvalidInput("--segment is empty: give a filter expression or leave it out")
    try:
        return parse_checked(segment, lists)
    except NotFound as exc:
        raise NotFound(f"--segment: {exc}") from None
    except InvalidInput as exc:
        raise InvalidInput(f"--segment: {exc}") from None


def audience(campaign: Campaign, lists: Collection[MailingList]) -> Node:
    """campaignd.rules.eligible for this campaign's lists, written in the filter language and
    joined with the segment: who the ledger fill takes."""
    on_lists = [m for m in lists if m.id in campaign.list_ids]
    receiving = tuple(
        Member(m.name, status.value)
        for m in on_lists
        for status in SubscriptionStatus
        if receives(m.optin, status)
    )
    parts: list[Node] = [Compare("status", "=", SubscriberStatus.ENABLED.value), Or(receiving)]
    if campaign.segment:
        parts.append(parse(campaign.segment))
    return And(tuple(parts))


async def segment_matches(store: SubscriberStore, campaign: Campaign) -> int | None:
    """How many subscribers eligible on the campaign's lists match its segment right now (None
    for a campaign without one)."""
    if not campaign.segment:
        return None
    return await store.count_subscribers(audience(campaign, await store.lists()))
