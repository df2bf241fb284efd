"""Domain values shared by every layer: frozen dataclasses and string enums, no I/O."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID


class SubscriberStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    BLOCKLISTED = "blocklisted"


class OptIn(StrEnum):
    SINGLE = "single"
    DOUBLE = "double"


class SubscriptionStatus(StrEnum):
    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class ContentType(StrEnum):
    HTML = "html"
    MARKDOWN = "markdown"
    PLAIN = "plain"


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


class TrackingMode(StrEnum):
    """[tracking] mode: how much opens and clicks record (docs/tracking.md)."""

    OFF = "off"  # no pixel, no rewritten link
    ANONYMOUS = "anonymous"  # counts per campaign, link and minute; no subscriber id
    INDIVIDUAL = "individual"  # also one row per hit with the subscriber id


class HitKind(StrEnum):
    """A tracked event; campaigns opt in to OPEN and CLICK (``--track opens,clicks``)."""

    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"


#: What `campaigns create --track` accepts, and the hit kind each turns on.
TRACK_OPTIONS: Mapping[str, HitKind] = {"opens": HitKind.OPEN, "clicks": HitKind.CLICK}


class ImportMode(StrEnum):
    SUBSCRIBE = "subscribe"
    BLOCKLIST = "blocklist"


class OutcomeKind(StrEnum):
    """What one SMTP send attempt came to."""

    SENT = "sent"
    TRANSIENT = "transient"  # 4xx, connection failure before the final ".": retry later
    PERMANENT = "permanent"  # 5xx: do not retry
    UNKNOWN = "unknown"  # no reply after the final ".": do not retry (would duplicate)


@dataclass(frozen=True, slots=True)
class MailingList:
    id: int
    name: str
    optin: OptIn
    description: str
    created_at: dt.datetime
    subscriber_count: int = 0
    #: Shown on the public subscription form and preference page (lists create --public).
    public: bool = False
    #: The list's public name in URLs (always set by the stores).
    uuid: UUID | None = None  # (UUID: the name `uuid` is this field inside the class)


@dataclass(frozen=True, slots=True)
class Subscription:
    list_id: int
    list_name: str
    status: SubscriptionStatus


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    uuid: uuid.UUID
    email: str
    name: str
    attributes: Mapping[str, Any]
    status: SubscriberStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    subscriptions: tuple[Subscription, ...] = ()


@dataclass(frozen=True, slots=True)
class NewSubscriber:
    """A subscriber as given by an operator or a CSV row, already validated and normalised."""

    email: str
    name: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    name: str
    body: str
    created_at: dt.datetime
    updated_at: dt.datetime | None = None  # when the body was last set (added or replaced)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An admin API token: only the SHA-256 of the secret is kept (campaignd.api.auth)."""

    id: int
    name: str
    token_hash: str  # hex SHA-256 of the token; never shown
    read_only: bool
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class NewCampaign:
    name: str
    subject: str
    from_email: str
    body: str
    lists: tuple[str, ...]
    alt_body: str | None = None
    content_type: ContentType = ContentType.HTML
    template: str | None = None
    messenger: str = "email"
    headers: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    send_at: dt.datetime | None = None
    segment: str | None = None  # a filter expression recipients must also match
    #: Readable in the public archive once running or finished (campaigns create --archive).
    archive: bool = False
    track: tuple[str, ...] = ()  # "opens", "clicks" (TRACK_OPTIONS)


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    uuid: uuid.UUID
    name: str
    subject: str
    from_email: str
    body: str
    alt_body: str | None
    content_type: ContentType
    template_id: int | None
    messenger: str
    headers: tuple[tuple[str, str], ...]
    tags: tuple[str, ...]
    status: CampaignStatus
    send_at: dt.datetime | None
    list_ids: tuple[int, ...]
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    pause_reason: str | None = None
    send_errors: int = 0
    segment: str | None = None  # a filter expression recipients must also match
    archive: bool = False
    track: tuple[str, ...] = ()  # "opens", "clicks" (TRACK_OPTIONS)


@dataclass(frozen=True, slots=True)
class CampaignCounts:
    """Exact per-status counts from the ledger."""

    to_send: int = 0
    pending: int = 0
    claimed: int = 0
    deferred: int = 0
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0

    @property
    def remaining(self) -> int:
        return self.pending + self.claimed + self.deferred


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
class BounceCounts:
    """A campaign's recorded bounces by kind."""

    hard: int = 0
    soft: int = 0
    complaint: int = 0


@dataclass(frozen=True, slots=True)
class Bounce:
    """One recorded bounce or complaint, with the subscriber's address and the campaign's name
    (None without a campaign, or for a campaign since removed)."""

    id: int
    subscriber_id: int
    email: str
    campaign_id: int | None
    campaign_name: str | None
    kind: str  # hard | soft | complaint
    source: str  # smtp | ses | sendgrid | postmark | mail | ...
    reason: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ImportCounts:
    inserted: int = 0
    updated: int = 0
    skipped: int = 0

    def __add__(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.skipped + other.skipped,
        )


#: The subscriber fields an import sets from its columns.
INFO_FIELDS: frozenset[str] = frozenset({"name", "attributes"})


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How one import batch is written: the mode, the lists, and what it may overwrite."""

    mode: ImportMode = ImportMode.SUBSCRIBE
    list_ids: tuple[int, ...] = ()
    status: SubscriptionStatus = SubscriptionStatus.UNCONFIRMED
    overwrite_info: bool = False  # replace name/attributes of existing subscribers
    overwrite_status: bool = False  # replace subscription status of existing subscriptions
    # With overwrite_info: the fields the file has a column for; the others are left alone.
    info_fields: frozenset[str] = INFO_FIELDS


@dataclass(frozen=True, slots=True)
class Hit:
    """One tracked event as the HTTP endpoint saw it; subscriber_id only in individual mode."""

    campaign_id: int
    kind: HitKind
    at: dt.datetime
    machine: bool = False  # a proxy, scanner or HEAD request rather than a person
    url: str = ""  # the target of a click
    subscriber_id: int | None = None


@dataclass(frozen=True, slots=True)
class HitCount:
    """Hits of one kind (and link), human or machine, in the minute starting at `minute`."""

    kind: HitKind
    machine: bool
    url: str
    minute: dt.datetime
    hits: int


@dataclass(frozen=True, slots=True)
class LedgerPoint:
    """Ledger rows that reached `status` in the minute starting at `minute`."""

    minute: dt.datetime
    status: DeliveryStatus
    count: int


@dataclass(frozen=True, slots=True)
class SubscriptionDay:
    """One UTC day of a list: subscriptions created that day, and subscriptions now
    unsubscribed whose last change (their unsubscribe) fell on that day."""

    day: dt.date
    subscribed: int
    unsubscribed: int


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class SubscriberUpdate:
    """A change to one subscriber, already validated and normalised; None leaves a field as is."""

    email: str | None = None
    name: str | None = None
    attributes: Mapping[str, Any] | None = None  # the whole new object (merging is done before)
    status: SubscriberStatus | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """One subscription with its dates (what `subscribers export-data` shows)."""

    list_id: int
    list_name: str
    status: SubscriptionStatus
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeliveryEntry:
    """One ledger row of a subscriber: which campaign, what became of it, the server's reply."""

    campaign_id: int
    campaign_name: str
    status: DeliveryStatus
    attempts: int
    code: int | None
    enhanced: str | None
    text: str
    updated_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class BounceEntry:
    """One recorded bounce or complaint of a subscriber."""

    campaign_id: int | None
    kind: str
    source: str
    reason: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PersonalData:
    """Everything held about one subscriber (GDPR access: `subscribers export-data`)."""

    subscriber: Subscriber
    subscriptions: tuple[SubscriptionRecord, ...]
    deliveries: tuple[DeliveryEntry, ...]
    bounces: tuple[BounceEntry, ...]
    optin_sent_at: dt.datetime | None
