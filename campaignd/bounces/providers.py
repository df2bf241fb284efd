"""Pure parsing of the providers' bounce reports into BounceEvents (Amazon SES, SendGrid, Postmark).

Only reports about the recipient become events: hard bounces (the address is gone), soft ones
(mailbox full, temporarily refusing) and spam complaints. Deliveries, opens, deferrals and the
providers' own suppressions ("dropped") are ignored. Malformed entries are skipped, not fatal:
one odd event must not make the provider retry a whole batch forever.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from campaignd.bounces.rules import BounceEvent, BounceType, parse_campaignd_id
from campaignd.domain import as_utc
from campaignd.errors import BadPayload, InvalidInput

_SES_BOUNCE = {"Permanent": BounceType.HARD, "Transient": BounceType.SOFT}
_POSTMARK = {
    "HardBounce": BounceType.HARD,
    "BadEmailAddress": BounceType.HARD,
    "SoftBounce": BounceType.SOFT,
    "Transient": BounceType.SOFT,
    "DnsError": BounceType.SOFT,
    "SpamNotification": BounceType.COMPLAINT,
    "SpamComplaint": BounceType.COMPLAINT,
}


def _text(value: Any, limit: int = 500) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _email(value: Any) -> str | None:
    if isinstance(value, str) and "@" in value and len(value) <= 320:
        return value.strip()
    return None


def _iso(value: Any) -> dt.datetime | None:
    """The provider's time in UTC; None (our clock's time is used) when it is not one we can
    store, such as 9999-12-31T23:59:59-14:00."""
    if not isinstance(value, str):
        return None
    try:
        return as_utc(dt.datetime.fromisoformat(value.replace("Z", "+00:00")), "timestamp")
    except (ValueError, InvalidInput):
        return None


def _unix(stamp: Any) -> dt.datetime | None:
    """A provider's Unix time in UTC; None (our clock's time is used) for one we cannot store
    (1e300, Infinity, NaN, negative)."""
    if not isinstance(stamp, int | float) or isinstance(stamp, bool) or not stamp > 0:
        return None
    try:
        return as_utc(dt.datetime.fromtimestamp(stamp, dt.UTC), "timestamp")
    except (OverflowError, ValueError, OSError, InvalidInput):
        return None


def _campaign_of_headers(headers: Any) -> Any:
    """The campaign uuid from SES's copy of the original headers ([{name, value}])."""
    if not isinstance(headers, list):
        return None
    for header in headers:
        if isinstance(header, Mapping) and str(header.get("name", "")).lower() == "x-campaignd-id":
            ids = parse_campaignd_id(header.get("value"))
            return ids[0] if ids else None
    return None


# -- Amazon SES (the Message of an SNS Notification) ------------------------------------------


def parse_ses(message: Mapping[str, Any]) -> list[BounceEvent]:
    """SES bounce and complaint notifications (notificationType) and event publishing
    (eventType) share this shape."""
    kind = message.get("notificationType") or message.get("eventType")
    mail = message.get("mail")
    campaign = _campaign_of_headers(mail.get("headers")) if isinstance(mail, Mapping) else None
    if kind == "Bounce":
        bounce = message.get("bounce")
        if not isinstance(bounce, Mapping):
            raise BadPayload("an SES bounce without a bounce object")
        btype = _SES_BOUNCE.get(str(bounce.get("bounceType")), BounceType.SOFT)
        sub = _text(bounce.get("bounceSubType"), 64)
        at = _iso(bounce.get("timestamp"))
        feedback = _text(bounce.get("feedbackId"), 150) or None
        return list(
            _ses_recipients(bounce.get("bouncedRecipients"), btype, sub, campaign, at, feedback)
        )
    if kind == "Complaint":
        complaint = message.get("complaint")
        if not isinstance(complaint, Mapping):
            raise BadPayload("an SES complaint without a complaint object")
        feedback = _text(complaint.get("complaintFeedbackType"), 64) or "complaint"
        at = _iso(complaint.get("timestamp"))
        return list(
            _ses_recipients(
                complaint.get("complainedRecipients"),
                BounceType.COMPLAINT,
                feedback,
                campaign,
                at,
                _text(complaint.get("feedbackId"), 150) or None,
            )
        )
    return []


def _ses_recipients(
    recipients: Any,
    kind: BounceType,
    what: str,
    campaign: Any,
    at: dt.datetime | None,
    feedback_id: str | None,
) -> Iterator[BounceEvent]:
    """One event per recipient; SES's feedbackId names the notification, so the event id is
    it plus the address (SNS redelivers the same notification on a failed POST)."""
    if not isinstance(recipients, list):
        return
    for r in recipients:
        if not isinstance(r, Mapping) or (email := _email(r.get("emailAddress"))) is None:
            continue
        detail = _text(r.get("diagnosticCode")) or _text(r.get("status"), 32)
        reason = f"{what}: {detail}" if detail else what
        event_id = f"{feedback_id}/{email.lower()}" if feedback_id else None
        yield BounceEvent(
            email, kind, "ses", reason, campaign_uuid=campaign, at=at, event_id=event_id
        )


# -- SendGrid Event Webhook (a JSON array of events) -----------------------------------------


def parse_sendgrid(events: Any) -> list[BounceEvent]:
    if not isinstance(events, list):
        raise BadPayload("the SendGrid Event Webhook posts a JSON array")
    out = []
    for ev in events:
        if not isinstance(ev, Mapping) or (email := _email(ev.get("email"))) is None:
            continue
        name = ev.get("event")
        if name == "bounce":
            # type "bounce": the address was rejected; "blocked": refused for now
            kind = BounceType.SOFT if ev.get("type") == "blocked" else BounceType.HARD
            detail = " ".join(
                p for p in (_text(ev.get("status"), 32), _text(ev.get("reason"))) if p
            )
        elif name == "spamreport":
            kind, detail = BounceType.COMPLAINT, "spam report"
        else:
            continue
        at = _unix(ev.get("timestamp"))
        ids = parse_campaignd_id(ev.get("campaignd_id"))  # a unique arg, when the operator sets it
        out.append(
            BounceEvent(
                email,
                kind,
                "sendgrid",
                detail,
                campaign_uuid=ids[0] if ids else None,
                at=at,
                event_id=_text(ev.get("sg_event_id"), 150) or None,
            )
        )
    return out


# -- Postmark bounce and spam complaint webhooks (one JSON object) -----------------------------


def parse_postmark(record: Any) -> list[BounceEvent]:
    if not isinstance(record, Mapping):
        raise BadPayload("the Postmark webhook posts a JSON object")
    if record.get("RecordType") not in ("Bounce", "SpamComplaint"):
        return []
    kind = _POSTMARK.get(str(record.get("Type")))
    email = _email(record.get("Email"))
    if kind is None or email is None:
        return []
    reason = _text(record.get("Description")) or _text(record.get("Type"), 64)
    metadata = record.get("Metadata")
    ids = (
        parse_campaignd_id(metadata.get("campaignd_id")) if isinstance(metadata, Mapping) else None
    )
    at = _iso(record.get("BouncedAt"))
    raw_id = record.get("ID")
    event_id = (
        f"{record.get('RecordType')}/{raw_id}/{email.lower()}"
        if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) and str(raw_id)
        else None
    )
    return [
        BounceEvent(
            email,
            kind,
            "postmark",
            reason,
            campaign_uuid=ids[0] if ids else None,
            at=at,
            event_id=event_id,
        )
    ]
