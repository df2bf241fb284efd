"""The in-memory twin's subscriber management: update, delete, wipe, export pages, personal data."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence

from campaignd.domain import (
    BounceEntry,
    DeliveryEntry,
    PersonalData,
    Subscriber,
    SubscriberStatus,
    SubscriberUpdate,
    SubscriptionRecord,
)
from campaignd.errors import Conflict, NotFound
from campaignd.rules import after_deletion, detached_subscriber_id, erase_address
from campaignd.store.memory.state import MemoryState, Sub


class MemoryPeople(MemoryState):
    """The managing part of SubscriberStore (the rest: MemorySubscribers, MemoryImport)."""

    def _sub(self, subscriber_id: int) -> Sub:
        try:
            return self._subs[subscriber_id]
        except KeyError:
            raise NotFound(f"no subscriber with id {subscriber_id}") from None

    async def update_subscriber(
        self, subscriber_id: int, change: SubscriberUpdate, now: dt.datetime
    ) -> Subscriber:
        sub = self._sub(subscriber_id)
        now = now.astimezone(dt.UTC)
        if change.email is not None:
            key = change.email.lower()
            other = self._by_key.get(key)
            if other is not None and other != sub.id:
                raise Conflict(f"subscriber {change.email} already exists", field="email")
            del self._by_key[sub.email.lower()]
            self._by_key[key] = sub.id
            sub.email = change.email
        if change.name is not None:
            sub.name = change.name
        if change.attributes is not None:
            sub.attributes = copy.deepcopy(dict(change.attributes))
        if change.status is not None:
            sub.status = SubscriberStatus(change.status)
            if sub.status is SubscriberStatus.BLOCKLISTED:
                self._unsubscribe(sub.id, None, now)
        sub.updated_at = now
        return self._view(sub)

    async def subscriber_ids(self, emails: Sequence[str]) -> dict[str, int]:
        keys = (e.strip().lower() for e in emails)
        return {k: self._by_key[k] for k in keys if k in self._by_key}

    async def delete_subscribers(self, subscriber_ids: Sequence[int], now: dt.datetime) -> int:
        ids = set(subscriber_ids)
        missing = sorted(ids - set(self._subs))
        if missing:
            raise NotFound(f"no subscriber with id {', '.join(map(str, missing))}")
        now = now.astimezone(dt.UTC)
        for row in self._ledger.values():
            if row.subscriber_id in ids:
                self._in_ledger.discard((row.campaign_id, row.subscriber_id))
                row.subscriber_id = detached_subscriber_id(row.id)
                self._in_ledger.add((row.campaign_id, row.subscriber_id))
                status = after_deletion(row.status)
                if status is not row.status:
                    row.status, row.next_attempt_at, row.updated_at = status, None, now
        for key in [k for k in self._links if k[0] in ids]:
            del self._links[key]
        self._bounces = [b for b in self._bounces if b[0] not in ids]
        for sid in ids:
            self._optin_sent.pop(sid, None)
            del self._by_key[self._subs.pop(sid).email.lower()]
        return len(ids)

    async def wipe_subscriber(self, subscriber_id: int, now: dt.datetime) -> int:
        address = self._sub(subscriber_id).email
        rows = [r for r in self._ledger.values() if r.subscriber_id == subscriber_id]
        for row in rows:
            row.text, row.message_id = erase_address(row.text, address), ""
        await self.delete_subscribers([subscriber_id], now)
        return len(rows)

    async def subscribers_page(
        self,
        *,
        after_id: int = 0,
        limit: int = 1000,
        list_id: int | None = None,
        status: SubscriberStatus | None = None,
    ) -> list[Subscriber]:
        out: list[Subscriber] = []
        for sid in sorted(s for s in self._subs if s > after_id):
            if len(out) >= limit:
                break
            sub = self._subs[sid]
            if status is not None and sub.status != status:
                continue
            if list_id is not None and (sid, list_id) not in self._links:
                continue
            out.append(self._view(sub, with_subscriptions=False))
        return out

    async def personal_data(self, subscriber_id: int) -> PersonalData:
        sub = self._sub(subscriber_id)
        links = sorted((lid, link) for (s, lid), link in self._links.items() if s == sub.id)
        rows = sorted(
            (r for r in self._ledger.values() if r.subscriber_id == sub.id), key=lambda r: r.id
        )
        return PersonalData(
            subscriber=self._view(sub),
            subscriptions=tuple(
                SubscriptionRecord(
                    lid, self._lists[lid].name, link.status, link.created_at, link.updated_at
                )
                for lid, link in links
            ),
            deliveries=tuple(
                DeliveryEntry(
                    campaign_id=r.campaign_id,
                    campaign_name=self._campaigns[r.campaign_id].name,
                    status=r.status,
                    attempts=r.attempts,
                    code=r.code,
                    enhanced=r.enhanced,
                    text=r.text,
                    updated_at=r.updated_at,
                )
                for r in rows
            ),
            bounces=tuple(
                BounceEntry(b[1], b[2], b[3], b[4], b[5]) for b in self._bounces if b[0] == sub.id
            ),
            optin_sent_at=self._optin_sent.get(sub.id),
        )
