"""The in-memory twin's tables and the helpers its parts share (one state, every method atomic)."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from campaignd.domain import (
    ApiToken,
    Campaign,
    DeliveryStatus,
    HitKind,
    MailingList,
    NewSubscriber,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Template,
)
from campaignd.errors import NotFound
from campaignd.rules import eligible, unclaimed

UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED


@dataclass
class Sub:
    id: int
    uuid: uuid.UUID
    email: str
    name: str
    attributes: dict[str, Any]
    status: SubscriberStatus
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class Link:
    status: SubscriptionStatus
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class Row:
    id: int
    campaign_id: int
    subscriber_id: int
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    code: int | None = None
    enhanced: str | None = None
    text: str = ""
    message_id: str = ""
    server: str | None = None
    claimed_by: str | None = None
    claimed_at: dt.datetime | None = None
    next_attempt_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """As SqlStore returns it: aware, in UTC."""
    return None if value is None else value.astimezone(dt.UTC)


class MemoryState:
    """Everything in dictionaries, shared by the twin's parts; no awaits inside a method."""

    def __init__(self) -> None:
        self._lists: dict[int, MailingList] = {}
        self._subs: dict[int, Sub] = {}
        self._by_key: dict[str, int] = {}
        self._links: dict[tuple[int, int], Link] = {}  # (subscriber_id, list_id)
        self._templates: dict[int, Template] = {}
        self._campaigns: dict[int, Campaign] = {}
        self._ledger: dict[int, Row] = {}
        self._in_ledger: set[tuple[int, int]] = set()
        self._ids: dict[str, int] = {}
        self._optin_sent: dict[int, dt.datetime] = {}
        # (subscriber_id, campaign_id, kind, source, reason, created_at, id)
        self._bounces: list[tuple[int, int | None, str, str, str, dt.datetime, int]] = []
        self._bounce_events: set[tuple[str, str]] = set()
        self._tokens: dict[str, ApiToken] = {}  # by name
        # (campaign, kind, machine, url, minute) -> hits; (campaign, kind, machine, subscriber)
        self._hit_counts: Counter[tuple[int, HitKind, bool, str, dt.datetime]] = Counter()
        self._hit_people: set[tuple[int, HitKind, bool, int]] = set()

    # -- SchemaStore -------------------------------------------------------------------------
    async def check_schema(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- shared helpers ----------------------------------------------------------------------
    def _next(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def _campaign(self, campaign_id: int) -> Campaign:
        try:
            return self._campaigns[campaign_id]
        except KeyError:
            raise NotFound(f"no campaign {campaign_id}") from None

    def _eligible(self, campaign: Campaign, sid: int) -> bool:
        """campaignd.rules.eligible over the subscriber's subscriptions to the campaign's lists."""
        sub = self._subs.get(sid)
        if sub is None:
            return False
        links = ((lid, self._links.get((sid, lid))) for lid in campaign.list_ids)
        return eligible(
            sub.status,
            ((self._lists[lid].optin, link.status) for lid, link in links if link is not None),
        )

    def _require_lists(self, list_ids: Sequence[int]) -> None:
        missing = sorted(set(list_ids) - set(self._lists))
        if missing:
            raise NotFound(f"no list with id {', '.join(map(str, missing))}")

    def _view(self, sub: Sub, *, with_subscriptions: bool = True) -> Subscriber:
        links = (
            sorted((lid, link) for (sid, lid), link in self._links.items() if sid == sub.id)
            if with_subscriptions
            else []
        )
        return Subscriber(
            id=sub.id,
            uuid=sub.uuid,
            email=sub.email,
            name=sub.name,
            attributes=copy.deepcopy(sub.attributes),
            status=sub.status,
            created_at=sub.created_at,
            updated_at=sub.updated_at,
            subscriptions=tuple(
                Subscription(lid, self._lists[lid].name, link.status) for lid, link in links
            ),
        )

    def _insert(self, row: NewSubscriber, status: SubscriberStatus, now: dt.datetime) -> Sub:
        sub = Sub(
            id=self._next("subscriber"),
            uuid=uuid.uuid4(),
            email=row.email,
            name=row.name,
            attributes=copy.deepcopy(dict(row.attributes)),
            status=status,
            created_at=now,
            updated_at=now,
        )
        self._subs[sub.id] = sub
        self._by_key[row.email.lower()] = sub.id
        return sub

    def _unsubscribe(self, sid: int, list_ids: Sequence[int] | None, now: dt.datetime) -> int:
        changed = 0
        wanted = None if list_ids is None else set(list_ids)
        for (s, lid), link in self._links.items():
            if s == sid and (wanted is None or lid in wanted) and link.status != UNSUBSCRIBED:
                link.status, link.updated_at = UNSUBSCRIBED, now
                changed += 1
        return changed

    @staticmethod
    def _unclaim(row: Row, now: dt.datetime) -> None:
        for name, value in unclaimed(now).items():
            setattr(row, name, value)
