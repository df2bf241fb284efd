"""Classify one inbound mail (a DSN, a feedback report, an auto-reply, an unsubscribe request).

``classify_mail(raw)`` is pure and total: any bytes give a ``MailResult`` (hostile or
unreadable mail is ``ignore`` with a reason), with bounded work (see campaignd.bounces.dsn).
The table of what each kind of mail becomes is in docs/bounces.md ("What each kind of mail
does"); in short, in this order:

1. a multipart/report with a delivery-status part (RFC 3464): the worst failed recipient
   decides (hard, soft, or ignore when the status is about us: policy 5.7.x and the like);
   only delayed, delivered, relayed or expanded recipients: ignore;
2. a feedback report (RFC 5965 ARF, or Outlook's JMRP copy): complaint, except the
   not-spam, virus and auth-failure types (ignore);
3. a plain-text bounce from mail delivery software (Exim, qmail, Exchange, Yahoo): read
   like a DSN from its text; a delay warning is ignored;
4. an auto-reply (RFC 3834 Auto-Submitted, X-Autoreply, Precedence, "Out of office"
   subjects) or a challenge-response request: ignore;
5. anything else sent to an unsubscribe address (the caller says so): unsubscribe;
   elsewhere: ignore.
"""

from __future__ import annotations

import hashlib

from campaignd.bounces import dsn, textual
from campaignd.bounces.inbound import Fields, MailKind, MailResult, RecipientReport
from campaignd.bounces.rules import parse_campaignd_id
from campaignd.bounces.textual import Verdict

__all__ = ["MailKind", "MailResult", "RecipientReport", "classify_mail", "read_mail"]

_COMPLAINT_TYPES = frozenset({"abuse", "fraud", "other", ""})
_KEPT_ORIGINAL = ("message-id", "to")
_MAX_KEPT = 30
_SEVERITY = {MailKind.HARD: 3, MailKind.SOFT: 2, MailKind.COMPLAINT: 2, MailKind.IGNORE: 0}


def classify_mail(
    raw: bytes, *, envelope_recipient: str | None = None, to_unsubscribe: bool = False
) -> MailResult:
    """Classify the raw bytes of one inbound mail; never raises on its content.

    `envelope_recipient` is the RCPT TO (or mailbox address) it arrived at (later carrying a
    VERP token); `to_unsubscribe` says that address is an unsubscribe address.
    """
    try:
        return read_mail(raw, envelope_recipient=envelope_recipient, to_unsubscribe=to_unsubscribe)
    except Exception as exc:  # a parser bug on hostile input must not stop the receiver
        return _unparseable(raw, exc, envelope_recipient)


def read_mail(
    raw: bytes, *, envelope_recipient: str | None = None, to_unsubscribe: bool = False
) -> MailResult:
    """classify_mail without its last-resort guard (the tests call it to see real errors);
    only a message the stdlib parser cannot take apart (too deeply nested) is caught here."""
    try:
        msg = dsn.parse(raw)
    except RecursionError as exc:
        return _unparseable(raw, exc, envelope_recipient)
    report = dsn.read(msg)
    head = dsn.fields(msg)
    return _Reader(head, report, envelope_recipient, to_unsubscribe, raw).result()


def _unparseable(raw: bytes, exc: BaseException, envelope: str | None) -> MailResult:
    return MailResult(
        MailKind.IGNORE,
        f"unparseable mail ({type(exc).__name__})",
        "unparseable",
        _digest("raw", hashlib.sha256(raw[: dsn.MAX_BYTES]).hexdigest()),
        envelope_recipient=envelope,
    )


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()[:40]


def _recipient_report(block: Fields) -> RecipientReport | None:
    """One per-recipient block of a DSN; None without an address."""
    original = dsn.address(dsn.first(block, "original-recipient"))
    address = dsn.address(dsn.first(block, "final-recipient")) or original
    if address is None:
        return None
    action = (dsn.first(block, "action") or "").split("(")[0].strip().lower()
    status = textual.enhanced((dsn.first(block, "status") or "")[:20])
    diagnostic = dsn.without_type(dsn.first(block, "diagnostic-code") or "")[:500]
    if not action and status:
        action = {"5": "failed", "4": "delayed"}.get(status[0], "delivered")
    if action == "failed":
        v = textual.verdict(status, diagnostic)
    else:
        v = Verdict(None, False, f"action {action or 'missing'}")
    kind = MailKind(v.bounce.value) if v.bounce else MailKind.IGNORE
    return RecipientReport(address, kind, action, status, diagnostic, original, v.sender_fault)


def _dsn_reason(worst: RecipientReport, reports: list[RecipientReport]) -> str:
    """Why a DSN whose worst recipient is `worst` becomes what it does."""
    if worst.kind is not MailKind.IGNORE:
        return f"delivery failed: {worst.status or 'no status'}"
    if worst.sender_fault:
        return f"failed for a reason about the sender ({worst.status})"
    actions = sorted({r.action or "missing" for r in reports})
    if actions == ["delayed"]:
        return "delay warning"
    return f"delivery report: {', '.join(actions)}"


def _content_digest(raw: bytes, head: Fields) -> str:
    """The mail without the trace fields a relay or mailbox adds (Received, Delivered-To)."""
    data = raw[: dsn.MAX_BYTES]
    ends = [i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0]
    body = data[min(ends) :] if ends else b""
    stable = [f"{n}:{v}" for n, v in head if n in ("from", "to", "date", "subject")]
    return _digest(hashlib.sha256(body).hexdigest(), *stable)


class _Reader:
    """One classification: the parsed mail and what has been learnt of its original."""

    def __init__(
        self,
        head: Fields,
        report: dsn.Report,
        envelope: str | None,
        to_unsubscribe: bool,
        raw: bytes,
    ) -> None:
        self.head = head
        self.report = report
        self.envelope = envelope
        self.to_unsubscribe = to_unsubscribe
        self.raw = raw
        self.original = report.original
        self.human = report.text
        marker = textual.COPY_MARKER.search(report.text)
        if marker is not None:
            self.human = report.text[: marker.start()]
            if not self.original:
                self.original = dsn.headers_in_text(report.text[marker.end() :])

    # -- the decision -------------------------------------------------------------------

    def result(self) -> MailResult:
        if self.report.kind == "delivery-status":
            return self._dsn()
        if self.report.kind == "feedback-report":
            return self._arf()
        if dsn.first(self.original, "x-hmxmroriginalrecipient"):
            return self._complaint(
                "jmrp", "abuse", dsn.first(self.original, "x-hmxmroriginalrecipient")
            )
        if self._looks_like_bounce():
            return self._text_bounce()
        auto = textual.auto_reply(self.head)
        if auto:
            return self._make(MailKind.IGNORE, f"auto-reply ({auto})", "auto-reply")
        challenge = textual.challenge(self.head, self.human, self.to_unsubscribe)
        if challenge:
            return self._make(MailKind.IGNORE, f"challenge-response ({challenge})", "challenge")
        if self.to_unsubscribe:
            sender = dsn.address(dsn.first(self.head, "from"))
            return self._make(
                MailKind.UNSUBSCRIBE,
                "mail to an unsubscribe address",
                "unsubscribe",
                recipients=(sender,) if sender else (),
            )
        return self._make(MailKind.IGNORE, "not a bounce, complaint or unsubscribe", "other")

    def _dsn(self) -> MailResult:
        reports = [r for r in map(_recipient_report, self.report.per_recipient) if r is not None]
        if not reports:
            if self._looks_like_bounce():
                return self._text_bounce()
            return self._make(MailKind.IGNORE, "delivery report without recipients", "dsn")
        worst = max(reports, key=lambda r: (_SEVERITY[r.kind], r.action == "failed"))
        why = _dsn_reason(worst, reports)
        chosen = tuple(
            r.address for r in reports if r.kind is worst.kind and r.action == worst.action
        )
        return self._make(
            worst.kind,
            why,
            "dsn",
            recipients=chosen,
            status=worst.status,
            diagnostic=worst.diagnostic,
            reports=tuple(reports),
            sender_fault=worst.sender_fault,
            key=(
                dsn.first(self.report.per_message, "original-envelope-id") or "",
                dsn.first(self.report.per_message, "reporting-mta") or "",
                dsn.first(self.report.per_message, "arrival-date") or "",
            ),
        )

    def _arf(self) -> MailResult:
        fields = self.report.per_message
        ftype = (dsn.first(fields, "feedback-type") or "").lower()
        rcpt = dsn.first(fields, "original-rcpt-to") or dsn.first(fields, "removal-recipient")
        if ftype not in _COMPLAINT_TYPES:
            return self._make(
                MailKind.IGNORE,
                f"feedback report of type {ftype}",
                "arf",
                sender_fault=ftype == "auth-failure",
                feedback_type=ftype,
            )
        return self._complaint("arf", ftype or "other", rcpt)

    def _complaint(self, shape: str, ftype: str, rcpt: str | None) -> MailResult:
        address = dsn.address(rcpt) or dsn.address(dsn.first(self.original, "to"))
        return self._make(
            MailKind.COMPLAINT,
            f"complaint ({ftype})",
            shape,
            recipients=(address,) if address else (),
            diagnostic=f"feedback-type {ftype}",
            feedback_type=ftype,
            key=(
                dsn.first(self.report.per_message, "arrival-date") or "",
                dsn.first(self.report.per_message, "source-ip") or "",
            ),
        )

    def _text_bounce(self) -> MailResult:
        subject = dsn.decoded(dsn.first(self.head, "subject") or "")
        diagnostic = textual.diagnostic_line(self.human)
        status = textual.enhanced(diagnostic) or textual.enhanced(self.human)
        delayed = bool(textual.DELAY.search(subject)) or (
            bool(textual.DELAY.search(self.human)) and not textual.PERMANENT.search(self.human)
        )
        recipients = self._failed_in_text()
        temporary = (status or "").startswith("4") and not textual.PERMANENT.search(self.human)
        if delayed or temporary:
            return self._make(
                MailKind.IGNORE,
                "delay warning",
                "text-bounce",
                recipients=recipients,
                status=status,
                diagnostic=diagnostic,
            )
        if not recipients:
            return self._make(
                MailKind.IGNORE, "bounce without a failed address", "text-bounce", status=status
            )
        v = textual.verdict(status, diagnostic or " ".join(self.human.split())[:2000])
        kind = MailKind(v.bounce.value) if v.bounce else MailKind.IGNORE
        why = v.note if kind is MailKind.IGNORE else f"delivery failed: {status or v.note}"
        return self._make(
            kind,
            why,
            "text-bounce",
            recipients=recipients,
            status=status,
            diagnostic=diagnostic,
            sender_fault=v.sender_fault,
        )

    # -- signals ---------------------------------------------------------------------------

    def _looks_like_bounce(self) -> bool:
        sender = dsn.address(dsn.first(self.head, "from")) or ""
        if sender.split("@")[0].lower() in textual.BOUNCE_SENDERS:
            return True
        if dsn.first(self.head, "x-failed-recipients"):
            return True
        subject = dsn.decoded(dsn.first(self.head, "subject") or "")
        body = bool(textual.BOUNCE_BODY.search(self.human))
        return body and (bool(textual.BOUNCE_SUBJECT.search(subject)) or not self.to_unsubscribe)

    def _failed_in_text(self) -> tuple[str, ...]:
        listed = dsn.first(self.head, "x-failed-recipients")
        if listed:
            found = tuple(a for a in (dsn.address(p) for p in listed.split(",")[:20]) if a)
            if found:
                return found
        ours = self._ours()
        candidates = [a for a in dsn.addresses_in(self.human) if a.lower() not in ours]
        to = dsn.address(dsn.first(self.original, "to"))
        if to is not None and to.lower() in {c.lower() for c in candidates}:
            return (to,)
        if candidates:
            return (candidates[0],)
        return (to,) if to else ()

    def _ours(self) -> set[str]:
        """Addresses in a bounce that are not the failed recipient: ours and the reporter's."""
        out = set()
        for value in (
            self.envelope,
            dsn.first(self.head, "from"),
            dsn.first(self.head, "to"),
            dsn.first(self.original, "from"),
            dsn.first(self.original, "return-path"),
            dsn.first(self.original, "sender"),
        ):
            address = dsn.address(value)
            if address:
                out.add(address.lower())
        return out

    # -- the result --------------------------------------------------------------------------

    def _make(
        self,
        kind: MailKind,
        reason: str,
        shape: str,
        *,
        recipients: tuple[str, ...] = (),
        status: str | None = None,
        diagnostic: str = "",
        reports: tuple[RecipientReport, ...] = (),
        sender_fault: bool = False,
        feedback_type: str | None = None,
        key: tuple[str, ...] = (),
    ) -> MailResult:
        kept = tuple(
            (name, value)
            for name, value in self.original
            if name.startswith(("x-", "list-")) or name in _KEPT_ORIGINAL
        )[:_MAX_KEPT]
        message_id = dsn.first(self.original, "message-id")
        ids = parse_campaignd_id(dsn.first(self.original, "x-campaignd-id"))
        addresses = ",".join(sorted(a.lower() for a in recipients))
        identity = message_id or dsn.first(self.original, "x-campaignd-id")
        if identity and kind is not MailKind.IGNORE and kind is not MailKind.UNSUBSCRIBE:
            fingerprint = _digest(kind.value, identity, addresses)
        else:
            own = dsn.first(self.head, "message-id") or ""
            fallback = "" if own else _content_digest(self.raw, self.head)
            fingerprint = _digest(kind.value, addresses, status or "", own, fallback, *key)
        return MailResult(
            kind,
            reason,
            shape,
            fingerprint,
            status=status,
            diagnostic=diagnostic,
            recipients=recipients,
            reports=reports,
            sender_fault=sender_fault,
            message_id=message_id,
            original_headers=kept,
            campaign_uuid=ids[0] if ids else None,
            subscriber_uuid=ids[1] if ids else None,
            envelope_recipient=self.envelope,
            feedback_type=feedback_type,
        )
