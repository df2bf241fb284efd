"""Route one inbound mail to the VERP addresses it was sent to, and apply it to each.

Shared by the SMTP receiver (the envelope recipients are known: RCPT TO) and the mailbox
scanner (they are not: a hosted mailbox delivers `bounces+<token>@example.com` into
`bounces@example.com` and records the original address in a trace header). Either way the
subscriber and campaign come from a signed token, never from the mail's content.
"""

from __future__ import annotations

import email.parser
import email.policy
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import getaddresses

from campaignd.bounces.classify import classify_mail
from campaignd.bounces.mailin import Applied, MailApplier
from campaignd.rendering.verp import Role, VerpCodec, VerpTarget

log = logging.getLogger(__name__)

#: Where a mailbox provider records the envelope recipient, most trustworthy first; To and
#: Cc last (a DSN is addressed to the envelope sender, our VERP address).
TRACE_HEADERS = (
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "x-delivered-to",
    "x-rcpt-to",
    "to",
    "cc",
)
#: Addresses looked at in one mail: a header block stuffed with thousands costs nothing.
MAX_CANDIDATES = 50


@dataclass(frozen=True, slots=True)
class Routed:
    """One application of a mail to one of our addresses."""

    target: VerpTarget
    kind: str
    shape: str
    applied: Applied


def mailbox_targets(raw: bytes, codec: VerpCodec) -> list[VerpTarget]:
    """Our verified addresses among the mail's trace and address headers: at most one
    bounce and one unsubscribe target (the first found of each role)."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    candidates: list[str] = []
    for name in TRACE_HEADERS:
        values = [str(v) for v in headers.get_all(name, [])]
        candidates.extend(address for _, address in getaddresses(values) if address)
        if len(candidates) >= MAX_CANDIDATES:
            break
    found: dict[Role, VerpTarget] = {}
    for address in candidates[:MAX_CANDIDATES]:
        target = codec.parse(address)
        if target is not None and target.role not in found:
            found[target.role] = target
    return list(found.values())


async def apply_mail(
    raw: bytes, targets: Iterable[VerpTarget], applier: MailApplier
) -> Sequence[Routed]:
    """Classify the mail once per target and apply it (StoreError propagates: the caller
    keeps the mail to try again)."""
    out: list[Routed] = []
    for target in targets:
        result = classify_mail(
            raw,
            envelope_recipient=target.address,
            to_unsubscribe=target.role is Role.UNSUBSCRIBE,
        )
        applied = await applier.apply(result, target.campaign_id, target.subscriber_uuid)
        log.info(
            "inbound mail to the %s address: %s (%s), %s",
            target.role.value,
            result.kind.value,
            result.shape,
            applied.outcome,
            extra={"action": "inbound.mail", "campaign_id": applied.campaign_id},
        )
        out.append(Routed(target, result.kind.value, result.shape, applied))
    return out
