"""The result of classifying one inbound mail (campaignd.bounces.classify), and the
BounceEvents it amounts to for the same [bounces] rules as webhooks and send-time bounces."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from campaignd.bounces.rules import BounceEvent, BounceType

#: (lower-cased name, value) pairs of one header block, in order.
Fields = tuple[tuple[str, str], ...]


class MailKind(StrEnum):
    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    IGNORE = "ignore"

    @property
    def bounce_type(self) -> BounceType | None:
        """The [bounces] rule this kind counts towards, if any."""
        return _BOUNCE_TYPES.get(self)


_BOUNCE_TYPES = {
    MailKind.HARD: BounceType.HARD,
    MailKind.SOFT: BounceType.SOFT,
    MailKind.COMPLAINT: BounceType.COMPLAINT,
}


@dataclass(frozen=True, slots=True)
class RecipientReport:
    """One recipient of a delivery report: its address, outcome and the remote reply."""

    address: str
    kind: MailKind
    action: str  # failed, delayed, delivered, relayed, expanded ("" when absent)
    status: str | None  # RFC 3463, e.g. "5.1.1"
    diagnostic: str  # the remote server's reply, e.g. "550 5.1.1 <a@b>: user unknown"
    original: str | None = None  # Original-Recipient, when given
    sender_fault: bool = False


@dataclass(frozen=True, slots=True)
class MailResult:
    """What one inbound mail is, and whom and which sent message it concerns.

    `recipients` are the addresses it is about: the failed recipients of a bounce, the
    complainant of a complaint, the sender of an unsubscribe request. `status`,
    `diagnostic` and `sender_fault` come from the recipient that decided the kind.
    `message_id` and `original_headers` (X-* and List-* fields, names lower-cased) come from
    the original message when the mail quotes or attaches it; `campaign_uuid` and
    `subscriber_uuid` from its X-Campaignd-Id. `fingerprint` is the same for the same
    report delivered twice. `shape` names the format recognised: dsn, arf, jmrp,
    text-bounce, auto-reply, challenge, unsubscribe, other, unparseable.
    """

    kind: MailKind
    reason: str
    shape: str
    fingerprint: str
    status: str | None = None
    diagnostic: str = ""
    recipients: tuple[str, ...] = ()
    reports: tuple[RecipientReport, ...] = ()
    sender_fault: bool = False
    message_id: str | None = None
    original_headers: Fields = ()
    campaign_uuid: uuid.UUID | None = None
    subscriber_uuid: uuid.UUID | None = None
    envelope_recipient: str | None = None
    feedback_type: str | None = None


def bounce_events(result: MailResult, source: str = "mail") -> list[BounceEvent]:
    """The BounceEvents a result amounts to (one per bounced or complaining address), for
    the same Suppressor as webhooks; the event id is the fingerprint plus the address."""
    if result.kind.bounce_type is None:
        return []
    pairs: list[tuple[str, BounceType, str]] = []
    if result.reports:
        for r in result.reports:
            kind = r.kind.bounce_type
            if kind is not None:
                reason = " ".join(p for p in (r.status or "", r.diagnostic) if p)
                pairs.append((r.address, kind, reason or r.kind.value))
    else:
        reason = " ".join(p for p in (result.status or "", result.diagnostic) if p)
        pairs = [(a, result.kind.bounce_type, reason or result.reason) for a in result.recipients]
    return [
        BounceEvent(
            address,
            kind,
            source,
            reason[:500],
            campaign_uuid=result.campaign_uuid,
            event_id=f"{result.fingerprint}/{address.lower()}",
        )
        for address, kind, reason in pairs
    ]
