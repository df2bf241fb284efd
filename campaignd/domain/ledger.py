"""The ledger and sending: delivery statuses, one recipient, a send's outcome and record, send
events, tallies, failures and per-minute ledger points."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DeliveryStatus(StrEnum):
    """The state of one ledger row (one campaign x one subscriber)."""

    PENDING = "pending"  # not yet attempted, or released back after a graceful stop
    CLAIMED = "claimed"  # taken by a sender; may be in flight
    DEFERRED = "deferred"  # transient failure; retried at next_attempt_at
    SENT = "sent"  # the server accepted it (2xx after the final ".")
    FAILED = "failed"  # permanent failure, or transient failures exhausted
    UNKNOWN = "unknown"  # no reply after the final ".": may have been delivered; never re-sent
    SKIPPED = "skipped"  # no longer eligible when its turn came (unsubscribed, blocklisted)


#: Ledger states that still need work.
OPEN_DELIVERY = frozenset({DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.DEFERRED})


class OutcomeKind(StrEnum):
    """What one SMTP send attempt came to."""

    SENT = "sent"
    TRANSIENT = "transient"  # 4xx, connection failure before the final ".": retry later
    PERMANENT = "permanent"  # 5xx: do not retry
    UNKNOWN = "unknown"  # no reply after the final ".": do not retry (would duplicate)


@dataclass(frozen=True, slots=True)
class Recipient:
    """One claimed ledger row with what rendering needs."""

    ledger_id: int
    campaign_id: int
    subscriber_id: int
    uuid: uuid.UUID
    email: str
    name: str
    attributes: Mapping[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The result of handing one message to a messenger."""

    kind: OutcomeKind
    server: str | None = None
    code: int | None = None
    enhanced: str | None = None  # RFC 3463 code such as "5.1.1"
    text: str = ""
    attempts: int = 1
    connection_error: bool = False  # failed before any reply to this message (connect, TLS, auth)
    auth_failed: bool = False  # the server refused our credentials: a configuration problem


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """What the dispatcher writes back to the ledger for one recipient."""

    ledger_id: int
    status: DeliveryStatus
    attempts: int
    code: int | None
    enhanced: str | None
    text: str
    server: str | None
    message_id: str
    next_attempt_at: dt.datetime | None = None
    sender_fault: bool = False  # counts towards app.max_send_errors


@dataclass(frozen=True, slots=True)
class SendEvent:
    """One send attempt's result, for observers (metrics, send-time bounces)."""

    campaign_id: int
    messenger: str
    recipient: Recipient
    outcome: SendOutcome | None  # None when the message could not be built
    record: DeliveryRecord
    seconds: float  # time spent in the messenger


SendObserver = Callable[[SendEvent], None]


@dataclass
class Tally:
    """Outcomes of one runner (or the whole daemon), for progress lines and the final tally.

    Every count is of recipients: `deferred` is how many wait for a retry now (a recipient
    deferred ten times counts once, and no longer once its retry is sent or failed)."""

    sent: int = 0
    failed: int = 0
    unknown: int = 0
    waiting: set[int] = field(default_factory=set)  # ledger ids whose last outcome is deferred

    @property
    def deferred(self) -> int:
        return len(self.waiting)

    def add(self, records: Sequence[DeliveryRecord]) -> None:
        for r in records:
            if r.status is DeliveryStatus.DEFERRED:
                self.waiting.add(r.ledger_id)
                continue
            self.waiting.discard(r.ledger_id)
            if r.status is DeliveryStatus.SENT:
                self.sent += 1
            elif r.status is DeliveryStatus.FAILED:
                self.failed += 1
            elif r.status is DeliveryStatus.UNKNOWN:
                self.unknown += 1


@dataclass(frozen=True, slots=True)
class Failure:
    email: str
    status: DeliveryStatus
    attempts: int
    code: int | None
    enhanced: str | None
    text: str
    server: str | None
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class LedgerPoint:
    """Ledger rows that reached `status` in the minute starting at `minute`."""

    minute: dt.datetime
    status: DeliveryStatus
    count: int
