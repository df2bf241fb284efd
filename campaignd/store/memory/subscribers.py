"""The in-memory SubscriberStore: lists, subscribers, their subscriptions, opt-in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence

from campaignd.domain import (
    CampaignStatus,
    MailingList,
    NewSubscriber,
    OptIn,
    Subscriber,
    SubscriberStatus,
    SubscriptionDay,
    SubscriptionStatus,
    utcnow,
)
from campaignd.errors import Conflict, NotFound
from campaignd.filters import Node
from campaignd.filters.evaluate import matches
from campaignd.rules import awaits_confirmation, in_use, name_key, resubscribe
from campaignd.store.memory.state import UNSUBSCRIBED, Link, MemoryState, Sub, utc


class MemorySubscribers(MemoryState):
    """Lists, subscribers and opt-in (import_batch: MemoryImport)."""

    # -- lists -------------------------------------------------------------------------------
    def _name_taken(self, name: str, but: int | None = None) -> None:
        for m in self._lists.values():
            if m.id != but and name_key(m.name) == name_key(name):
                raise Conflict(
                    f"list {m.name!r} already exists (list names ignore case)", field="name"
                )

    async def create_list(
        self, name: str, optin: OptIn, description: str, *, public: bool = False
    ) -> MailingList:
        self._name_taken(name)
        new = MailingList(
            self._next("list"),
            name,
            OptIn(optin),
            description,
            utcnow(),
            0,
            public=public,
            uuid=uuid.uuid4(),
        )
        self._lists[new.id] = new
        return new

    async def update_list(
        self,
        list_id: int,
        *,
        name: str | None = None,
        optin: OptIn | None = None,
        description: str | None = None,
    ) -> MailingList:
        current = self._list(list_id)
        if name is not None:
            self._name_taken(name, but=list_id)
        updated = dataclasses.replace(
            current,
            name=current.name if name is None else name,
            optin=current.optin if optin is None else OptIn(optin),
            description=current.description if description is None else description,
        )
        self._lists[list_id] = updated
        return self._with_count(updated)

    async def delete_list(
        self, list_id: int, refuse_when: frozenset[CampaignStatus]
    ) -> MailingList:
        current = self._with_count(self._list(list_id))
        users = [
            (c.id, c.name, c.status)
            for c in sorted(self._campaigns.values(), key=lambda c: c.id)
            if list_id in c.list_ids and c.status in refuse_when
        ]
        if users:
            raise in_use(f"list {current.name!r}", users)
        for key in [k for k in self._links if k[1] == list_id]:
            del self._links[key]
        for c in list(self._campaigns.values()):
            if list_id in c.list_ids:  # as ON DELETE CASCADE on campaign_lists
                kept = tuple(i for i in c.list_ids if i != list_id)
                self._campaigns[c.id] = dataclasses.replace(c, list_ids=kept)
        del self._lists[list_id]
        return current

    def _list(self, list_id: int) -> MailingList:
        try:
            return self._lists[list_id]
        except KeyError:
            raise NotFound(f"no list with id {list_id}") from None

    def _with_count(self, m: MailingList) -> MailingList:
        count = sum(
            1
            for (_, lid), link in self._links.items()
            if lid == m.id and link.status != UNSUBSCRIBED
        )
        return dataclasses.replace(m, subscriber_count=count)

    async def get_list(self, name: str) -> MailingList:
        for m in self._lists.values():
            if m.name == name:
                return self._with_count(m)
        raise NotFound(f"no list named {name!r}")

    async def set_list_public(self, list_id: int, public: bool) -> MailingList:
        self._require_lists([list_id])
        changed = dataclasses.replace(self._lists[list_id], public=public)
        self._lists[list_id] = changed
        return self._with_count(changed)

    async def lists(self) -> list[MailingList]:
        return [self._with_count(m) for m in sorted(self._lists.values(), key=lambda m: m.id)]

    async def list_names(self) -> dict[int, str]:
        return {m.id: m.name for m in self._lists.values()}

    async def list_growth(self, list_id: int) -> list[SubscriptionDay]:
        made: Counter[dt.date] = Counter()
        ended: Counter[dt.date] = Counter()
        for (_sid, lid), link in self._links.items():
            if lid == list_id:
                made[link.created_at.astimezone(dt.UTC).date()] += 1
                if link.status == UNSUBSCRIBED:
                    ended[link.updated_at.astimezone(dt.UTC).date()] += 1
        return [SubscriptionDay(d, made[d], ended[d]) for d in sorted(made.keys() | ended.keys())]

    # -- subscribers -------------------------------------------------------------------------
    def _find(self, email: str) -> Sub:
        sid = self._by_key.get(email.strip().lower())
        if sid is None:
            raise NotFound(f"no subscriber {email.strip()}")
        return self._subs[sid]

    async def add_subscriber(
        self, subscriber: NewSubscriber, list_ids: Sequence[int], status: SubscriptionStatus
    ) -> Subscriber:
        if subscriber.email.lower() in self._by_key:
            raise Conflict(f"subscriber {subscriber.email} already exists", field="email")
        self._require_lists(list_ids)
        now = utcnow()
        sub = self._insert(subscriber, SubscriberStatus.ENABLED, now)
        for lid in dict.fromkeys(list_ids):
            self._links[(sub.id, lid)] = Link(SubscriptionStatus(status), now, now)
        return self._view(sub)

    async def get_subscriber(self, email: str) -> Subscriber:
        return self._view(self._find(email))

    async def get_subscriber_by_uuid(self, subscriber_uuid: uuid.UUID) -> Subscriber:
        for sub in self._subs.values():
            if sub.uuid == subscriber_uuid:
                return self._view(sub)
        raise NotFound("no such subscriber")

    async def get_subscriber_by_id(self, subscriber_id: int) -> Subscriber:
        sub = self._subs.get(subscriber_id)
        if sub is None:
            raise NotFound(f"no subscriber with id {subscriber_id}")
        return self._view(sub)

    async def set_subscriber_status(self, email: str, status: SubscriberStatus) -> Subscriber:
        sub = self._find(email)
        now = utcnow()
        sub.status, sub.updated_at = SubscriberStatus(status), now
        if status is SubscriberStatus.BLOCKLISTED:
            self._unsubscribe(sub.id, None, now)
        return self._view(sub)

    async def unsubscribe(self, subscriber_id: int, list_ids: Sequence[int] | None) -> int:
        return self._unsubscribe(subscriber_id, list_ids, utcnow())

    # -- queries -----------------------------------------------------------------------------
    async def query_subscribers(
        self, query: Node | None, after_id: int = 0, limit: int = 100
    ) -> list[Subscriber]:
        out: list[Subscriber] = []
        for sid in sorted(self._subs):
            if len(out) >= limit:
                break
            if sid > after_id:
                view = self._view(self._subs[sid])
                if query is None or matches(query, view):
                    out.append(view)
        return out

    async def count_subscribers(self, query: Node | None) -> int:
        views = (self._view(sub) for sub in self._subs.values())
        return sum(1 for v in views if query is None or matches(query, v))

    def _sub(self, subscriber_id: int) -> Sub:
        try:
            return self._subs[subscriber_id]
        except KeyError:
            raise NotFound("no such subscriber") from None

    async def subscribe(self, subscriber_id: int, list_ids: Sequence[int], now: dt.datetime) -> int:
        self._sub(subscriber_id)
        self._require_lists(list_ids)
        at, changed = utc(now) or now, 0
        for lid in dict.fromkeys(list_ids):
            link = self._links.get((subscriber_id, lid))
            status = resubscribe(None if link is None else link.status)
            if status is None:
                continue
            if link is None:
                self._links[(subscriber_id, lid)] = Link(status, at, at)
            else:
                link.status, link.updated_at = status, at
            changed += 1
        return changed

    async def set_subscriber_name(self, subscriber_id: int, name: str, now: dt.datetime) -> None:
        sub = self._sub(subscriber_id)
        sub.name, sub.updated_at = name, utc(now) or now

    # -- opt-in ------------------------------------------------------------------------------
    def _awaiting(self, sid: int, list_ids: Sequence[int] | None) -> list[Link]:
        """The subscriber's subscriptions that await confirmation (on `list_ids` when given)."""
        return [
            link
            for (s, lid), link in self._links.items()
            if s == sid
            and (list_ids is None or lid in list_ids)
            and awaits_confirmation(self._lists[lid].optin, link.status)
        ]

    async def confirm_optin(
        self, subscriber_id: int, now: dt.datetime, list_ids: Sequence[int] | None = None
    ) -> int:
        awaiting = self._awaiting(subscriber_id, list_ids)
        for link in awaiting:
            link.status, link.updated_at = SubscriptionStatus.CONFIRMED, utc(now) or now
        return len(awaiting)

    async def optin_pending(
        self, list_ids: Sequence[int] | None = None, *, after_id: int = 0, limit: int = 500
    ) -> list[Subscriber]:
        out: list[Subscriber] = []
        for sid in sorted(self._subs):
            if len(out) >= limit:
                break
            sub = self._subs[sid]
            if (
                sid > after_id
                and sub.status is SubscriberStatus.ENABLED
                and sid not in self._optin_sent
                and self._awaiting(sid, list_ids)
            ):
                out.append(self._view(sub))
        return out

    async def mark_optin_sent(self, subscriber_id: int, now: dt.datetime) -> None:
        self._optin_sent[subscriber_id] = now.astimezone(dt.UTC)
