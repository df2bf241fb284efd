"""Store rules shared by the SQL store and its in-memory twin (pure, no I/O).

The in-memory twin applies these functions row by row; the SQL store encodes the same rules
set-based in its WHERE clauses (db/ledger.py, db/links.py, db/audience.py) where a function
cannot run, and the contract suite pins both to them (tests/integration/test_store_rules.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from campaignd.addresses import smtp_address
from campaignd.domain import (
    Campaign,
    CampaignStatus,
    DeliveryStatus,
    OptIn,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.errors import Conflict, InvalidAddress, TransitionRefused

#: Ledger rows the operator is shown as failures (`campaign failures`).
FAILURE_STATUSES = frozenset(
    {DeliveryStatus.FAILED, DeliveryStatus.DEFERRED, DeliveryStatus.UNKNOWN}
)
#: Ledger rows that are done with: never claimed again unless reset_failed puts them back.
FINAL_STATUSES = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN, DeliveryStatus.SKIPPED}
)


def receives(optin: OptIn, status: SubscriptionStatus) -> bool:
    """Whether a subscription makes its subscriber a recipient of the list's campaigns: confirmed,
    or on a single opt-in list and not unsubscribed."""
    return status is SubscriptionStatus.CONFIRMED or (
        optin is OptIn.SINGLE and status is not SubscriptionStatus.UNSUBSCRIBED
    )


def eligible(
    subscriber: SubscriberStatus, subscriptions: Iterable[tuple[OptIn, SubscriptionStatus]]
) -> bool:
    """Whether a subscriber receives a campaign, given its (opt-in, status) subscriptions on the
    campaign's lists: enabled, and at least one of them `receives`."""
    return subscriber is SubscriberStatus.ENABLED and any(
        receives(optin, status) for optin, status in subscriptions
    )


def awaits_confirmation(optin: OptIn, status: SubscriptionStatus) -> bool:
    """Whether a subscription waits for its opt-in to be confirmed: unconfirmed, double opt-in."""
    return optin is OptIn.DOUBLE and status is SubscriptionStatus.UNCONFIRMED


def claimable(
    status: DeliveryStatus, next_attempt_at: dt.datetime | None, now: dt.datetime
) -> bool:
    """Whether a ledger row may be claimed: pending, or deferred and due."""
    if status is DeliveryStatus.PENDING:
        return True
    return (
        status is DeliveryStatus.DEFERRED and next_attempt_at is not None and next_attempt_at <= now
    )


def unclaimed(now: dt.datetime) -> dict[str, Any]:
    """The fields of a ledger row put back to pending (released, recovered, reset)."""
    return {
        "status": DeliveryStatus.PENDING,
        "claimed_by": None,
        "claimed_at": None,
        "next_attempt_at": None,
        "updated_at": now,
    }


def is_due(campaign: Campaign, now: dt.datetime) -> bool:
    """Whether a scheduled campaign is to start: its send_at has come."""
    return (
        campaign.status is CampaignStatus.SCHEDULED
        and campaign.send_at is not None
        and campaign.send_at <= now
    )


def refusal(
    campaign_id: int,
    current: CampaignStatus,
    to: CampaignStatus,
    expected: frozenset[CampaignStatus],
) -> TransitionRefused:
    allowed = ", ".join(sorted(s.value for s in expected)) or "nothing"
    return TransitionRefused(
        f"campaign {campaign_id} is {current.value}; it can become {to.value} only from: {allowed}"
    )


def transition_values(
    current: Campaign,
    to: CampaignStatus,
    now: dt.datetime,
    send_at: dt.datetime | None,
    reason: str | None,
) -> dict[str, Any]:
    """The fields a transition sets."""
    values: dict[str, Any] = {"status": to, "updated_at": now}
    if to is CampaignStatus.RUNNING:
        if current.started_at is None:
            values["started_at"] = now
        # Resuming starts a fresh error budget: the operator has looked at the reason.
        values["send_errors"] = 0
        values["finished_at"] = None
    if to in (CampaignStatus.FINISHED, CampaignStatus.CANCELLED):
        values["finished_at"] = now
    values["pause_reason"] = reason if to is CampaignStatus.PAUSED else None
    if send_at is not None:
        values["send_at"] = send_at
    return values


def plan_subscriptions(
    ids: Iterable[int],
    list_ids: Sequence[int],
    current: Mapping[tuple[int, int], str],
    status: str,
    overwrite_status: bool,
    ts: Any,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], set[int]]:
    """Subscribing existing subscribers `ids` to `list_ids`, given their current subscription
    statuses: (rows to insert, rows to update, subscribers changed). Shared by both import
    paths so they count `updated` the same way."""
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    changed: set[int] = set()
    for sid in ids:
        for lid in list_ids:
            was = current.get((sid, lid))
            if was is None:
                inserts.append((sid, lid, status, ts, ts))
                changed.add(sid)
            elif overwrite_status and was != status:
                updates.append((status, ts, sid, lid))
                changed.add(sid)
    return inserts, updates, changed


def name_key(name: str) -> str:
    """The form in which list names are unique: "News" and "news" are the same list name."""
    return name.strip().casefold()


def in_use(what: str, users: Iterable[tuple[int, str, CampaignStatus]]) -> Conflict:
    """The refusal to delete a list or template that campaigns (id, name, status) still use."""
    named = ", ".join(f"{cid} {name!r} ({status.value})" for cid, name, status in users)
    return Conflict(f"{what} is used by campaign(s) {named}; nothing was deleted")


def refused_change(
    campaign_id: int, current: CampaignStatus, doing: str, allowed: frozenset[CampaignStatus]
) -> TransitionRefused:
    """The refusal to update or delete a campaign in a status that does not allow it."""
    only = ", ".join(sorted(s.value for s in allowed))
    return TransitionRefused(
        f"cannot {doing} campaign {campaign_id}: it is {current.value} (only {only} ones)"
    )


#: What replaces a wiped subscriber's address in the server replies kept in the ledger.
ERASED_ADDRESS = "erased@erased.invalid"
#: Ledger rows still to send that a deleted subscriber had: they will not be sent.
DELETED_OPEN_STATUSES = frozenset({DeliveryStatus.PENDING, DeliveryStatus.DEFERRED})


def detached_subscriber_id(ledger_id: int) -> int:
    """The subscriber id a ledger row keeps once its subscriber is deleted: minus the row's own
    id, unique within the campaign, never a real subscriber's (so a new subscriber that gets a
    reused id on SQLite inherits nobody's history) and no longer pointing at the person."""
    return -ledger_id


def after_deletion(status: DeliveryStatus) -> DeliveryStatus:
    """A deleted subscriber's ledger row: one still to send is skipped, the others stay."""
    return DeliveryStatus.SKIPPED if status in DELETED_OPEN_STATUSES else status


def erase_address(text: str, address: str) -> str:
    """`text` (a server reply kept in the ledger) with `address`, in any case, and its form on
    the wire (an international domain in IDNA ASCII) replaced by ERASED_ADDRESS."""
    try:
        wire = smtp_address(address).text
    except InvalidAddress:
        wire = address
    for form in dict.fromkeys((address, wire)):
        text = re.sub(re.escape(form), ERASED_ADDRESS, text, flags=re.IGNORECASE)
    return text


def resubscribe(current: SubscriptionStatus | None) -> SubscriptionStatus | None:
    """The status a subscription gets when the subscriber asks for the list themselves (the
    public form, the preference page): a new or unsubscribed one becomes unconfirmed (a
    receiver on single opt-in lists, awaiting the confirmation link on double opt-in ones);
    a confirmed or unconfirmed one is left as it is (None)."""
    if current is None or current is SubscriptionStatus.UNSUBSCRIBED:
        return SubscriptionStatus.UNCONFIRMED
    return None
