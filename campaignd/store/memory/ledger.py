"""The in-memory LedgerStore: the delivery ledger, its claims, outcomes and counts."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Sequence

from campaignd.domain import (
    CampaignCounts,
    DeliveryRecord,
    DeliveryStatus,
    Failure,
    Recipient,
    utcnow,
)
from campaignd.filters import parse
from campaignd.filters.evaluate import matches
from campaignd.rules import FAILURE_STATUSES, FINAL_STATUSES, claimable
from campaignd.store.memory.state import MemoryState, Row, utc


class MemoryLedger(MemoryState):
    """The ledger's life cycle as campaignd.store.protocol draws it."""

    # -- filling -----------------------------------------------------------------------------
    async def populate_ledger(
        self, campaign_id: int, now: dt.datetime, *, after: int = 0, upto: int | None = None
    ) -> int:
        campaign = self._campaign(campaign_id)
        segment = parse(campaign.segment) if campaign.segment else None
        added = 0
        for sid in sorted(self._subs):
            if sid <= after or (upto is not None and sid > upto):
                continue
            if (campaign_id, sid) in self._in_ledger or not self._eligible(campaign, sid):
                continue
            if segment is not None and not matches(segment, self._view(self._subs[sid])):
                continue
            row = Row(self._next("delivery"), campaign_id, sid, updated_at=utc(now))
            self._ledger[row.id] = row
            self._in_ledger.add((campaign_id, sid))
            added += 1
        return added

    async def eligible_count(self, campaign_id: int) -> int:
        campaign = self._campaign(campaign_id)
        return sum(1 for sid in self._subs if self._eligible(campaign, sid))

    async def last_subscriber_id(self) -> int:
        return max(self._subs, default=0)

    async def missing_attributes(self, campaign_id: int, names: Sequence[str]) -> dict[str, int]:
        campaign = self._campaign(campaign_id)
        done = {
            r.subscriber_id
            for r in self._ledger.values()
            if r.campaign_id == campaign_id and r.status in FINAL_STATUSES
        }
        segment = parse(campaign.segment) if campaign.segment else None
        missing = dict.fromkeys(names, 0)
        for sid, sub in self._subs.items():
            if sid in done or not self._eligible(campaign, sid):
                continue
            if segment is not None and not matches(segment, self._view(sub)):
                continue
            for name in names:
                missing[name] += name not in sub.attributes
        return missing

    # -- claims and outcomes -----------------------------------------------------------------
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
            if row.campaign_id != campaign_id or not claimable(
                row.status, row.next_attempt_at, now
            ):
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
            row.next_attempt_at = utc(r.next_attempt_at) if deferred else None
            row.claimed_by, row.updated_at = None, now.astimezone(dt.UTC)

    async def add_send_errors(self, campaign_id: int, count: int) -> int:
        current = self._campaign(campaign_id)
        total = current.send_errors + count
        self._campaigns[campaign_id] = dataclasses.replace(current, send_errors=total)
        return total

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

    async def recover_claims(self, owner: str, lease: dt.timedelta, now: dt.datetime) -> int:
        stale_before, count = now.astimezone(dt.UTC) - lease, 0  # no server: the caller's clock
        for row in self._ledger.values():
            if row.status is not DeliveryStatus.CLAIMED:
                continue
            stale = row.claimed_at is not None and row.claimed_at < stale_before
            if row.claimed_by == owner or stale:
                self._unclaim(row, now)
                count += 1
        return count

    async def recover_stale_claims(
        self, campaign_id: int, lease: dt.timedelta, alive: str, now: dt.datetime
    ) -> int:
        stale_before, count = now.astimezone(dt.UTC) - lease, 0
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

    # -- counts ------------------------------------------------------------------------------
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
            if r.campaign_id == campaign_id
            and r.status in FAILURE_STATUSES
            and r.subscriber_id in self._subs  # a deleted subscriber's row has no address
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
