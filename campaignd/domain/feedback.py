"""What comes back from recipients: bounces and complaints, tracked opens, clicks and
unsubscribes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


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
