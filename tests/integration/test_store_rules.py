"""The rules of campaignd.rules, pinned on every store: the twin applies the functions, the SQL
store its own set-based WHERE clauses; both must agree with the functions on every case."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from campaignd.domain import (
    CampaignStatus,
    DeliveryRecord,
    DeliveryStatus,
    NewCampaign,
    OptIn,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.rules import awaits_confirmation, claimable, eligible, is_due
from tests.integration.store_fixtures import campaign, double, single, store, store_url, subscriber

__all__ = ["store", "store_url"]  # fixtures

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
CASES = list(itertools.product(OptIn, SubscriptionStatus, SubscriberStatus))


async def _people(store: Any) -> dict[str, tuple[OptIn, SubscriberStatus]]:
    """One subscriber per (opt-in, subscription status, subscriber status) on list "single" or
    "double"; return each one's address -> (its list's opt-in, its subscriber status)."""
    lists = {OptIn.SINGLE: await single(store), OptIn.DOUBLE: await double(store)}
    people = {}
    for optin, status, state in CASES:
        email = f"{optin}-{status}-{state}@example.com"
        first = (
            SubscriptionStatus.CONFIRMED if status is SubscriptionStatus.UNSUBSCRIBED else status
        )
        sid = await subscriber(store, email, (lists[optin],), first)
        if status is SubscriptionStatus.UNSUBSCRIBED:
            await store.unsubscribe(sid, None)
        if state is not SubscriberStatus.ENABLED:
            await store.set_subscriber_status(email, state)
        people[email] = (optin, state)
    return people


async def _expected(store: Any, people: dict[str, tuple[OptIn, SubscriberStatus]]) -> set[str]:
    """Who campaignd.rules.eligible says receives a campaign on both lists, as the store has
    them now (blocklisting also unsubscribes)."""
    out = set()
    for email, (optin, _) in people.items():
        sub = await store.get_subscriber(email)
        if eligible(sub.status, [(optin, s.status) for s in sub.subscriptions]):
            out.add(email)
    return out


async def test_populate_and_the_preflight_follow_the_eligibility_rule(store: Any) -> None:
    people = await _people(store)
    expected = await _expected(store, people)
    assert len(expected) == 3  # single unconfirmed, single confirmed, double confirmed
    cid = await campaign(store, "single", "double")
    missing = await store.missing_attributes(cid, ["absent", "n"])
    assert missing == {"absent": len(expected), "n": 0}
    assert await store.populate_ledger(cid, T0) == len(expected)
    claimed = await store.claim_batch(cid, "me", 1000, T0)
    assert {r.email for r in claimed} == expected


async def test_claims_skip_whom_the_rule_no_longer_admits(store: Any) -> None:
    people = await _people(store)
    cid = await campaign(store, "single", "double")
    await store.populate_ledger(cid, T0)
    # After the fill: every enabled recipient is disabled, blocklisted or unsubscribed in turn.
    receiving = sorted(await _expected(store, people))
    changes = ["keep", "disable", "blocklist", "unsubscribe"]
    for email, change in zip(receiving, itertools.cycle(changes), strict=False):
        if change in ("disable", "blocklist"):
            state = (
                SubscriberStatus.DISABLED if change == "disable" else SubscriberStatus.BLOCKLISTED
            )
            await store.set_subscriber_status(email, state)
        elif change == "unsubscribe":
            await store.unsubscribe((await store.get_subscriber(email)).id, None)
    still = await _expected(store, people)
    claimed = await store.claim_batch(cid, "me", 1000, T0)
    assert {r.email for r in claimed} == still
    counts = await store.counts(cid)
    assert (counts.claimed, counts.skipped) == (len(still), len(receiving) - len(still))


async def test_optin_pending_and_confirm_follow_the_confirmation_rule(store: Any) -> None:
    people = await _people(store)
    awaiting = set()
    for email, (optin, _) in people.items():
        sub = await store.get_subscriber(email)
        waits = any(awaits_confirmation(optin, s.status) for s in sub.subscriptions)
        if waits and sub.status is SubscriberStatus.ENABLED:
            awaiting.add(email)
    assert awaiting == {"double-unconfirmed-enabled@example.com"}
    assert {s.email for s in await store.optin_pending()} == awaiting
    for email in people:
        sub = await store.get_subscriber(email)
        optin = people[email][0]
        waiting = sum(awaits_confirmation(optin, s.status) for s in sub.subscriptions)
        assert await store.confirm_optin(sub.id, T0) == waiting, email


async def test_claims_follow_the_claimable_rule(store: Any) -> None:
    one = await single(store)
    for i in range(4):
        await subscriber(store, f"u{i}@example.com", (one,))
    cid = await campaign(store, "single")
    await store.populate_ledger(cid, T0)
    rows = await store.claim_batch(cid, "me", 10, T0)
    retry = {0: T0 - dt.timedelta(seconds=1), 1: T0, 2: T0 + dt.timedelta(seconds=1)}
    records = [
        DeliveryRecord(
            ledger_id=r.ledger_id,
            status=DeliveryStatus.DEFERRED if i in retry else DeliveryStatus.SENT,
            attempts=1,
            code=451,
            enhanced=None,
            text="later",
            server="s",
            message_id="",
            next_attempt_at=retry.get(i),
        )
        for i, r in enumerate(rows)
    ]
    await store.record_deliveries(records, T0)
    again = {r.ledger_id for r in await store.claim_batch(cid, "me", 10, T0)}
    want = {rec.ledger_id for rec in records if claimable(rec.status, rec.next_attempt_at, T0)}
    assert again == want and len(want) == 2


async def test_due_campaigns_follow_the_due_rule(store: Any) -> None:
    await single(store)
    for i, offset in enumerate((-60, 0, 60)):
        new = NewCampaign(
            name=f"c{i}", subject="s", from_email="me@example.com", body="b", lists=("single",)
        )
        created = await store.create_campaign(new, None)
        send_at = T0 + dt.timedelta(seconds=offset)
        await store.transition(
            created.id,
            frozenset({created.status}),
            CampaignStatus.SCHEDULED,
            now=T0,
            send_at=send_at,
        )
    everything = await store.campaigns()
    due = {c.id for c in await store.due_campaigns(T0)}
    assert due == {c.id for c in everything if is_due(c, T0)}
    assert len(due) == 2
