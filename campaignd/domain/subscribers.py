"""Subscribers, their lists and subscriptions: statuses, records, changes, a list's daily growth."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
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
class SubscriptionDay:
    """One UTC day of a list: subscriptions created that day, and subscriptions now
    unsubscribed whose last change (their unsubscribe) fell on that day."""

    day: dt.date
    subscribed: int
    unsubscribed: int


@dataclass(frozen=True, slots=True)
class SubscriberUpdate:
    """A change to one subscriber, already validated and normalised; None leaves a field as is."""

    email: str | None = None
    name: str | None = None
    attributes: Mapping[str, Any] | None = None  # the whole new object (merging is done before)
    status: SubscriberStatus | None = None
