"""Everything held about one subscriber, for GDPR access (`subscribers export-data`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from campaignd.domain.ledger import DeliveryStatus
from campaignd.domain.subscribers import Subscriber, SubscriptionStatus


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
