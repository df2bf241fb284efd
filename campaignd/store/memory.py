"""MemoryStore: the in-memory twin of SqlStore; passes the same contract suite."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from campaignd.domain import (
    Campaign,
    CampaignCounts,
    CampaignStatus,
    ContentType,
    DeliveryRecord,
    DeliveryStatus,
    Failure,
    ImportCounts,
    ImportMode,
    ImportOptions,
    MailingList,
    NewCampaign,
    NewSubscriber,
    OptIn,
    Recipient,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Template,
    utcnow,
)
from campaignd.errors import Conflict, NotFound
from campaignd.rules import refusal, transition_values

_UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED
_FAILURES = frozenset({DeliveryStatus.FAILED, DeliveryStatus.DEFERRED, DeliveryStatus.UNKNOWN})
_FINAL = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN, DeliveryStatus.SKIPPED}
)


@dataclass
class _Sub:
    id: int
    uuid: uuid.UUID
    email: str
    name: str
    attributes: dict[str, Any]
    status: SubscriberStatus
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class _Link:
    status: SubscriptionStatus
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class _Row:
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


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """As SqlStore returns it: aware, in UTC."""
    return None if value is None else value.astimezone(dt.UTC)


class MemoryStore:
    """Everything in dictionaries; every method is atomic (no awaits inside)."""

    def __init__(self) -> None:
        self._lists: dict[int, MailingList] = {}
        self._subs: dict[int, _Sub] = {}
        self._by_key: dict[str, int] = {}
        self._links: dict[tuple[int, int], _Link] = {}  # (subscriber_id, list_id)
        self._templates: dict[int, Template] = {}
        self._campaigns: dict[int, Campaign] = {}
        self._ledger: dict[int, _Row] = {}
        self._in_ledger: set[tuple[int, int]] = set()
        self._ids: dict[str, int] = {}
        self._optin_sent: dict[int, dt.datetime] = {}
        self._bounces: list[tuple[int, int | None, str, str, str]] = []
        self._bounce_events: set[tuple[str, str]] = set()

    def _next(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    async def check_schema(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- lists ---------------------------------------------------------------------------
    async def create_list(self, name: str, optin: OptIn, description: str) -> MailingList:
        if any(m.name == name for m in self._lists.values()):
            raise Conflict(f"list {name!r} already exists")
        new = MailingList(self._next("list"), name, OptIn(optin), description, utcnow(), 0)
        self._lists[new.id] = new
        return new

    def _with_count(self, m: MailingList) -> MailingList:
        count = sum(
            1
            for (_, lid), link in self._links.items()
            if lid == m.id and link.status != _UNSUBSCRIBED
        )
        return dataclasses.replace(m, subscriber_count=count)

    async def get_list(self, name: str) -> MailingList:
        for m in self._lists.values():
            if m.name == name:
                return self._with_count(m)
        raise NotFound(f"no list named {name!r}")

    async def lists(self) -> list[MailingList]:
        return [self._with_count(m) for m in sorted(self._lists.values(), key=lambda m: m.id)]

    async def list_names(self) -> dict[int, str]:
        return {m.id: m.name for m in self._lists.values()}

    def _require_lists(self, list_ids: Sequence[int]) -> None:
        missing = sorted(set(list_ids) - set(self._lists))
        if missing:
            raise NotFound(f"no list with id {', '.join(map(str, missing))}")

    # -- subscribers ---------------------------------------------------------------------
    def _view(self, sub: _Sub) -> Subscriber:
        links = sorted((lid, link) for (sid, lid), link in self._links.items() if sid == sub.id)
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

    def _find(self, email: str) -> _Sub:
        sid = self._by_key.get(email.strip().lower())
        if sid is None:
            raise NotFound(f"no subscriber {email.strip()}")
        return self._subs[sid]

    def _insert(self, row: NewSubscriber, status: SubscriberStatus, now: dt.datetime) -> _Sub:
        sub = _Sub(
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

    async def add_subscriber(
        self, subscriber: NewSubscriber, list_ids: Sequence[int], status: SubscriptionStatus
    ) -> Subscriber:
        if subscriber.email.lower() in self._by_key:
            raise Conflict(f"subscriber {subscriber.email} already exists")
        self._require_lists(list_ids)
        now = utcnow()
        sub = self._insert(subscriber, SubscriberStatus.ENABLED, now)
        for lid in dict.fromkeys(list_ids):
            self._links[(sub.id, lid)] = _Link(SubscriptionStatus(status), now, now)
        return self._view(sub)

    async def get_subscriber(self, email: str) -> Subscriber:
        return self._view(self._find(email))

    def _unsubscribe(self, sid: int, list_ids: Sequence[int] | None, now: dt.datetime) -> int:
        changed = 0
        wanted = None if list_ids is None else set(list_ids)
        for (s, lid), link in self._links.items():
            if s == sid and (wanted is None or lid in wanted) and link.status != _UNSUBSCRIBED:
                link.status, link.updated_at = _UNSUBSCRIBED, now
                changed += 1
        return changed

    async def set_subscriber_status(self, email: str, status: SubscriberStatus) -> Subscriber:
        sub = self._find(email)
        now = utcnow()
        sub.status, sub.updated_at = SubscriberStatus(status), now
        if status is SubscriberStatus.BLOCKLISTED:
            self._unsubscribe(sub.id, None, now)
        return self._view(sub)

    async def unsubscribe(self, subscriber_id: int, list_ids: Sequence[int] | None) -> int:
        return self._unsubscribe(subscriber_id, list_ids, utcnow())

    async def import_batch(
        self, rows: Sequence[NewSubscriber], options: ImportOptions
    ) -> ImportCounts:
        if not rows:
            return ImportCounts()
        self._require_lists(options.list_ids)
        now = utcnow()
        blocklist = options.mode is ImportMode.BLOCKLIST
        batch: dict[str, NewSubscriber] = {}
        for row in rows:
            batch.setdefault(row.email.lower(), row)
        inserted = 0
        existing: list[_Sub] = []
        changed: set[int] = set()
        targets: list[int] = []  # subscribers to put on the lists
        for key, row in batch.items():
            sid = self._by_key.get(key)
            if sid is None:
                status = SubscriberStatus.BLOCKLISTED if blocklist else SubscriberStatus.ENABLED
                targets.append(self._insert(row, status, now).id)
                inserted += 1
                continue
            sub = self._subs[sid]
            existing.append(sub)
            status = SubscriberStatus.BLOCKLISTED if blocklist else sub.status
            fields = options.info_fields if options.overwrite_info else frozenset()
            name = row.name if "name" in fields else sub.name
            attributes = dict(row.attributes) if "attributes" in fields else sub.attributes
            if name != sub.name or attributes != sub.attributes:
                sub.name, sub.attributes = name, copy.deepcopy(attributes)
                sub.status, sub.updated_at = status, now
                changed.add(sid)
            elif status != sub.status:
                sub.status, sub.updated_at = status, now
                changed.add(sid)
        if blocklist:
            for sub in existing:
                if self._unsubscribe(sub.id, None, now):
                    changed.add(sub.id)
        elif options.list_ids:
            new_ids = set(targets)
            for sub in existing:
                if sub.status != SubscriberStatus.BLOCKLISTED:
                    targets.append(sub.id)
            for sid in targets:
                for lid in dict.fromkeys(options.list_ids):
                    link = self._links.get((sid, lid))
                    if link is None:
                        self._links[(sid, lid)] = _Link(options.status, now, now)
                        if sid not in new_ids:
                            changed.add(sid)
                    elif options.overwrite_status and link.status != options.status:
                        link.status, link.updated_at = options.status, now
                        changed.add(sid)
        return ImportCounts(
            inserted=inserted,
            updated=len(changed),
            skipped=len(existing) - len(changed) + len(rows) - len(batch),
        )

    # -- templates -----------------------------------------------------------------------
    async def add_template(self, name: str, body: str) -> Template:
        if any(t.name == name for t in self._templates.values()):
            raise Conflict(f"template {name!r} already exists")
        new = Template(self._next("template"), name, body, utcnow())
        self._templates[new.id] = new
        return new

    async def get_template(self, name: str) -> Template:
        for t in self._templates.values():
            if t.name == name:
                return t
        raise NotFound(f"no template named {name!r}")

    async def get_template_by_id(self, template_id: int) -> Template:
        try:
            return self._templates[template_id]
        except KeyError:
            raise NotFound(f"no template with id {template_id}") from None

    async def templates(self) -> list[Template]:
        return [self._templates[k] for k in sorted(self._templates)]

    # -- campaigns -----------------------------------------------------------------------
    async def create_campaign(self, campaign: NewCampaign, template_id: int | None) -> Campaign:
        by_name = {m.name: m.id for m in self._lists.values()}
        names = list(dict.fromkeys(campaign.lists))
        missing = [n for n in names if n not in by_name]
        if missing:
            raise NotFound(f"no list named {', '.join(repr(n) for n in missing)}")
        if template_id is not None and template_id not in self._templates:
            raise NotFound(f"no template with id {template_id}")
        now = utcnow()
        new = Campaign(
            id=self._next("campaign"),
            uuid=uuid.uuid4(),
            name=campaign.name,
            subject=campaign.subject,
            from_email=campaign.from_email,
            body=campaign.body,
            alt_body=campaign.alt_body,
            content_type=ContentType(campaign.content_type),
            template_id=template_id,
            messenger=campaign.messenger,
            headers=tuple((str(n), str(v)) for n, v in campaign.headers),
            tags=tuple(campaign.tags),
            status=CampaignStatus.DRAFT,
            send_at=_utc(campaign.send_at),
            list_ids=tuple(sorted(by_name[n] for n in names)),
            created_at=now,
            updated_at=now,
        )
        self._campaigns[new.id] = new
        return new

    async def get_campaign(self, campaign_id: int) -> Campaign:
        try:
            return self._campaigns[campaign_id]
        except KeyError:
            raise NotFound(f"no campaign {campaign_id}") from None

    async def campaigns(self) -> list[Campaign]:
        return [self._campaigns[k] for k in sorted(self._campaigns)]

    async def transition(
        self,
        campaign_id: int,
        expected: frozenset[CampaignStatus],
        to: CampaignStatus,
        *,
        now: dt.datetime,
        send_at: dt.datetime | None = None,
        reason: str | None = None,
    ) -> Campaign:
        current = await self.get_campaign(campaign_id)
        if current.status not in expected:
            raise refusal(campaign_id, current.status, to, expected)
        values = transition_values(current, to, now.astimezone(dt.UTC), _utc(send_at), reason)
        updated = dataclasses.replace(current, **values)
        self._campaigns[campaign_id] = updated
        return updated

    async def due_campaigns(self, now: dt.datetime) -> list[Campaign]:
        return [
            c
            for c in await self.campaigns()
            if c.status is CampaignStatus.SCHEDULED and c.send_at is not None and c.send_at <= now
        ]

    async def running_campaigns(self) -> list[Campaign]:
        return [c for c in await self.campaigns() if c.status is CampaignStatus.RUNNING]

    async def add_send_errors(self, campaign_id: int, count: int) -> int:
        current = await self.get_campaign(campaign_id)
        total = current.send_errors + count
        self._campaigns[campaign_id] = dataclasses.replace(current, send_errors=total)
        return total

    # -- ledger --------------------------------------------------------------------------
    def _eligible(self, campaign: Campaign, sid: int) -> bool:
        sub = self._subs.get(sid)
        if sub is None or sub.status is not SubscriberStatus.ENABLED:
            return False
        for lid in campaign.list_ids:
            link = self._links.get((sid, lid))
            if link is None:
                continue
            if link.status is SubscriptionStatus.CONFIRMED:
                return True
            if self._lists[lid].optin is OptIn.SINGLE and link.status != _UNSUBSCRIBED:
                return True
        return False

    async def populate_ledger(
        self, campaign_id: int, now: dt.datetime, *, after: int = 0, upto: int | None = None
    ) -> int:
        campaign = await self.get_campaign(campaign_id)
        added = 0
        for sid in sorted(self._subs):
            if sid <= after or (upto is not None and sid > upto):
                continue
            if (campaign_id, sid) in self._in_ledger or not self._eligible(campaign, sid):
                continue
            row = _Row(self._next("delivery"), campaign_id, sid, updated_at=_utc(now))
            self._ledger[row.id] = row
            self._in_ledger.add((campaign_id, sid))
            added += 1
        return added

    async def last_subscriber_id(self) -> int:
        return max(self._subs, default=0)

    async def claim_batch(
        self, campaign_id: int, owner: str, limit: int, now: dt.datetime
    ) -> list[Recipient]:
        campaign = self._campaigns.get(campaign_id)
        if limit <= 0 or campaign is None:
            return []
        out: list[Recipient] = []
        taken = 0
        for row in sorted(self._ledger.values(), key=lambda r: r.id):
            if taken >= limit:
                break
            if row.campaign_id != campaign_id:
                continue
            due = row.status is DeliveryStatus.DEFERRED and (
                row.next_attempt_at is not None and row.next_attempt_at <= now
            )
            if row.status is not DeliveryStatus.PENDING and not due:
                continue
            taken += 1
            row.claimed_by, row.claimed_at = owner, now.astimezone(dt.UTC)
            row.updated_at = row.claimed_at
            if not self._eligible(campaign, row.subscriber_id):
                row.status = DeliveryStatus.SKIPPED
                continue
            row.status = DeliveryStatus.CLAIMED
            sub = self._subs[row.subscriber_id]
            out.append(
                Recipient(
                    ledger_id=row.id,
                    campaign_id=campaign_id,
                    subscriber_id=sub.id,
                    uuid=sub.uuid,
                    email=sub.email,
                    name=sub.name,
                    attributes=copy.deepcopy(sub.attributes),
                    attempts=row.attempts,
                )
            )
        return out

    async def record_deliveries(self, records: Sequence[DeliveryRecord], now: dt.datetime) -> None:
        for r in records:
            row = self._ledger.get(r.ledger_id)
            if row is None:
                continue
            row.status, row.attempts, row.code, row.enhanced = (
                r.status,
                r.attempts,
                r.code,
                r.enhanced,
            )
            row.text, row.server, row.message_id = r.text, r.server, r.message_id
            deferred = r.status is DeliveryStatus.DEFERRED
            row.next_attempt_at = _utc(r.next_attempt_at) if deferred else None
            row.claimed_by, row.updated_at = None, now.astimezone(dt.UTC)

    def _unclaim(self, row: _Row, now: dt.datetime) -> None:
        row.status, row.claimed_by, row.claimed_at = DeliveryStatus.PENDING, None, None
        row.next_attempt_at, row.updated_at = None, now

    async def renew_claims(self, owner: str, campaign_id: int, now: dt.datetime) -> int:
        count = 0
        for row in self._ledger.values():
            mine = row.status is DeliveryStatus.CLAIMED and row.claimed_by == owner
            if mine and row.campaign_id == campaign_id:
                row.claimed_at = now.astimezone(dt.UTC)
                count += 1
        return count

    async def release_claims(self, owner: str, campaign_id: int | None = None) -> int:
        now, count = utcnow(), 0
        for row in self._ledger.values():
            mine = row.status is DeliveryStatus.CLAIMED and row.claimed_by == owner
            if mine and (campaign_id is None or row.campaign_id == campaign_id):
                self._unclaim(row, now)
                count += 1
        return count

    async def recover_claims(self, owner: str, stale_before: dt.datetime) -> int:
        now, count = utcnow(), 0
        for row in self._ledger.values():
            if row.status is not DeliveryStatus.CLAIMED:
                continue
            stale = row.claimed_at is not None and row.claimed_at < stale_before
            if row.claimed_by == owner or stale:
                self._unclaim(row, now)
                count += 1
        return count

    async def recover_stale_claims(
        self, campaign_id: int, stale_before: dt.datetime, alive: str
    ) -> int:
        now, count = utcnow(), 0
        for row in self._ledger.values():
            if row.campaign_id != campaign_id or row.status is not DeliveryStatus.CLAIMED:
                continue
            if row.claimed_by == alive:
                continue
            if row.claimed_at is not None and row.claimed_at < stale_before:
                self._unclaim(row, now)
                count += 1
        return count

    async def reset_failed(self, campaign_id: int) -> int:
        now, count = utcnow(), 0
        for row in self._ledger.values():
            if row.campaign_id == campaign_id and row.status is DeliveryStatus.FAILED:
                self._unclaim(row, now)
                count += 1
        return count

    async def counts(self, campaign_id: int) -> CampaignCounts:
        by_status: dict[str, int] = {}
        for row in self._ledger.values():
            if row.campaign_id == campaign_id:
                by_status[row.status.value] = by_status.get(row.status.value, 0) + 1
        return CampaignCounts(to_send=sum(by_status.values()), **by_status)

    async def failures(self, campaign_id: int) -> list[Failure]:
        rows = [
            r
            for r in self._ledger.values()
            if r.campaign_id == campaign_id and r.status in _FAILURES
        ]
        rows.sort(key=lambda r: (self._subs[r.subscriber_id].email.lower(), r.id))
        return [
            Failure(
                email=self._subs[r.subscriber_id].email,
                status=r.status,
                attempts=r.attempts,
                code=r.code,
                enhanced=r.enhanced,
                text=r.text,
                server=r.server,
                updated_at=r.updated_at or utcnow(),
            )
            for r in rows
        ]

    async def next_retry_at(self, campaign_id: int) -> dt.datetime | None:
        times = [
            r.next_attempt_at
            for r in self._ledger.values()
            if r.campaign_id == campaign_id
            and r.status is DeliveryStatus.DEFERRED
            and r.next_attempt_at is not None
        ]
        return min(times, default=None)

    async def missing_attributes(self, campaign_id: int, names: Sequence[str]) -> dict[str, int]:
        campaign = await self.get_campaign(campaign_id)
        done = {
            r.subscriber_id
            for r in self._ledger.values()
            if r.campaign_id == campaign_id and r.status in _FINAL
        }
        missing = dict.fromkeys(names, 0)
        for sid, sub in self._subs.items():
            if sid in done or not self._eligible(campaign, sid):
                continue
            for name in names:
                missing[name] += name not in sub.attributes
        return missing

    # -- subscribers' own actions --------------------------------------------------------
    async def get_subscriber_by_uuid(self, subscriber_uuid: uuid.UUID) -> Subscriber:
        for sub in self._subs.values():
            if sub.uuid == subscriber_uuid:
                return self._view(sub)
        raise NotFound("no such subscriber")

    async def get_campaign_by_uuid(self, campaign_uuid: uuid.UUID) -> Campaign:
        for c in self._campaigns.values():
            if c.uuid == campaign_uuid:
                return c
        raise NotFound("no such campaign")

    def _awaits_optin(self, sid: int, list_ids: Sequence[int] | None) -> bool:
        return any(
            s == sid
            and link.status is SubscriptionStatus.UNCONFIRMED
            and self._lists[lid].optin is OptIn.DOUBLE
            and (list_ids is None or lid in list_ids)
            for (s, lid), link in self._links.items()
        )

    async def confirm_optin(
        self, subscriber_id: int, now: dt.datetime, list_ids: Sequence[int] | None = None
    ) -> int:
        changed = 0
        for (sid, lid), link in self._links.items():
            if (
                sid == subscriber_id
                and (list_ids is None or lid in list_ids)
                and link.status is SubscriptionStatus.UNCONFIRMED
                and self._lists[lid].optin is OptIn.DOUBLE
            ):
                link.status, link.updated_at = SubscriptionStatus.CONFIRMED, _utc(now) or now
                changed += 1
        return changed

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
                and self._awaits_optin(sid, list_ids)
            ):
                out.append(self._view(sub))
        return out

    async def mark_optin_sent(self, subscriber_id: int, now: dt.datetime) -> None:
        self._optin_sent[subscriber_id] = now.astimezone(dt.UTC)

    async def add_bounce(
        self,
        subscriber_id: int,
        campaign_id: int | None,
        kind: str,
        source: str,
        reason: str,
        now: dt.datetime,
        event_id: str | None = None,
    ) -> int | None:
        if subscriber_id not in self._subs:
            raise NotFound(f"no subscriber with id {subscriber_id}")
        if event_id is not None:
            if (source, event_id) in self._bounce_events:
                return None
            self._bounce_events.add((source, event_id))
        self._bounces.append((subscriber_id, campaign_id, kind, source, reason[:2000]))
        return sum(1 for b in self._bounces if b[0] == subscriber_id and b[2] == kind)
