"""Pure bounce rules: what a failed send or a provider's report is, and what to do about it.

A bounce is "hard" (the address does not exist: 5.1.1, 5.1.2, ...), "soft" (the mailbox is full
or temporarily refusing: 5.2.2, 4.2.2, ...) or a "complaint" (the recipient marked the message as
spam). Each type has a rule in ``[bounces]``: once a subscriber has ``count`` bounces of it, the
rule's action applies (record only, unsubscribe from every list, or blocklist).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

from campaignd.config import BounceAction, BounceSettings
from campaignd.domain import DeliveryRecord, DeliveryStatus
from campaignd.replies import classify


class BounceType(StrEnum):
    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"


@dataclass(frozen=True, slots=True)
class BounceEvent:
    """One bounce or complaint for one address, from a send-time reply or a webhook."""

    email: str
    type: BounceType
    source: str  # "smtp", "ses", "sendgrid", "postmark"
    reason: str = ""
    campaign_uuid: uuid.UUID | None = None
    campaign_id: int | None = None
    subscriber_id: int | None = None  # known at send time; webhooks look the address up
    at: dt.datetime | None = None
    event_id: str | None = None  # the provider's id of this event: its retries count once


def send_time_bounce(record: DeliveryRecord) -> BounceType | None:
    """The bounce a final ledger outcome amounts to: only failed rows with a recipient-side
    reply (5.1.x hard; mailbox full soft; policy, content or our own faults are no bounce)."""
    if record.status is not DeliveryStatus.FAILED or record.code is None:
        return None
    text = record.text
    if record.enhanced and not text.lstrip().startswith(record.enhanced):
        text = f"{record.enhanced} {text}"
    found = classify(record.code, text)
    if found.sender_fault or found.bounce is None:
        return None
    return BounceType(found.bounce)


def action_for(kind: BounceType, count: int, settings: BounceSettings) -> BounceAction:
    """The action due once a subscriber has `count` bounces of `kind` (this one included)."""
    rule = {
        BounceType.HARD: settings.hard,
        BounceType.SOFT: settings.soft,
        BounceType.COMPLAINT: settings.complaint,
    }[kind]
    return rule.action if count >= rule.count else BounceAction.NONE


_CAMPAIGND_ID = re.compile(
    r"^\s*([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\."
    r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\s*$"
)


def parse_campaignd_id(value: object) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(campaign uuid, subscriber uuid) from an ``X-Campaignd-Id`` header value, else None.

    The header is not signed: it only attributes a report to a campaign; the bounce itself
    is applied to the address the (authenticated) provider names.
    """
    if not isinstance(value, str):
        return None
    m = _CAMPAIGND_ID.match(value)
    if m is None:
        return None
    return uuid.UUID(m.group(1)), uuid.UUID(m.group(2))
