"""Pure classification of SMTP replies: what kind of outcome and whose fault (RFC 5321, 3463)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from campaignd.domain import OutcomeKind

Bounce = Literal["hard", "soft"]

# "5.1.1" at the start of the reply text (after the basic code has been stripped).
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")

#: Basic codes that say our credentials or our use of AUTH are wrong.
_AUTH_CODES = frozenset({530, 534, 535, 538})
#: Enhanced codes that say the same (RFC 4954, RFC 3463).
_AUTH_ENHANCED = frozenset({"5.7.8", "5.7.9", "5.7.11", "4.7.8", "4.7.9", "4.7.11"})
#: The recipient's address or domain does not exist: suppress it.
_HARD_ENHANCED = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1", "5.4.4"})
#: The recipient's mailbox is full: try again another day, do not suppress at once.
_SOFT_ENHANCED = frozenset({"4.2.2", "5.2.2"})
#: The receiver asks us to send more slowly.
_THROTTLE_ENHANCED = frozenset({"4.2.1", "4.7.28"})
#: Words of a 4.7.x policy reply that asks us to slow down (not a block or an auth problem).
_SLOW_DOWN = re.compile(r"rate.?limit|too (?:fast|many|quickly)|throttl|slow down|sending rate")
#: Sender-address problems inside the addressing class (5.1.7 bad sender mailbox, 5.1.8 its system).
_SENDER_ADDRESSING = frozenset({"1.7", "1.8"})


@dataclass(frozen=True, slots=True)
class Classification:
    """What one reply (or the lack of one) means for the message and for the sending setup.

    `sender_fault` is true when the problem lies on our side (connection, credentials, policy,
    the provider's system): such failures count towards app.max_send_errors. Otherwise the
    problem is the recipient's (bad or full mailbox). `bounce` says whether the recipient
    should be suppressed ("hard") or watched ("soft"). `throttled` asks the sender to slow down.
    """

    kind: OutcomeKind
    code: int | None
    enhanced: str | None
    sender_fault: bool
    auth_failed: bool = False
    bounce: Bounce | None = None
    throttled: bool = False


def enhanced_code(text: str) -> str | None:
    """The RFC 3463 status code at the start of a reply text, such as "5.1.1", or None."""
    m = _ENHANCED.match(text)
    if m is None:
        return None
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}"


def _kind(code: int) -> OutcomeKind:
    if 200 <= code < 300:
        return OutcomeKind.SENT
    if 500 <= code < 600:
        return OutcomeKind.PERMANENT
    # 4xx, and anything unexpected (1xx/3xx where a final reply was due, or garbage): try later.
    return OutcomeKind.TRANSIENT


def _by_enhanced(enhanced: str, code: int) -> tuple[bool, Bounce | None]:
    """(sender_fault, bounce) from the enhanced code's subject and detail."""
    _, subject, detail = enhanced.split(".")
    if enhanced in _HARD_ENHANCED:
        return False, "hard" if code >= 500 else "soft"
    if enhanced in _SOFT_ENHANCED:
        return False, "soft"
    if subject == "1":
        if f"{subject}.{detail}" in _SENDER_ADDRESSING:
            return True, None
        return False, "hard" if code >= 500 else None
    if subject == "2":  # mailbox status
        return False, "soft"
    # 3 mail system, 4 network and routing, 5 protocol, 6 content, 7 security or policy:
    # the provider's system, our path, our message or our standing, not the recipient's.
    return True, None


def _by_code(code: int) -> tuple[bool, Bounce | None]:
    """(sender_fault, bounce) from the basic code when there is no enhanced code."""
    if code in (550, 551, 553, 521, 556):
        return False, "hard"
    if code == 552:
        return False, "soft"
    if code in (450, 554):
        return False, None
    # 421 closing, 451 local error, 452 system storage, 454 TLS/auth/throttling, 455, and
    # 500-504 / 555 syntax and sequence errors: ours or the provider's.
    return True, None


def classify(code: int | None, text: str = "") -> Classification:
    """Classify a reply; `code` None means no reply at all (a connection failure).

    The enhanced code is read from the start of `text` (the reply text without the basic
    code) and used only when its class agrees with the basic code's.
    """
    if code is None:
        return Classification(OutcomeKind.TRANSIENT, None, None, sender_fault=True)
    kind = _kind(code)
    enhanced = enhanced_code(text)
    if enhanced is not None and enhanced[0] != str(code)[0]:
        enhanced = None
    if kind is OutcomeKind.SENT:
        return Classification(kind, code, enhanced, sender_fault=False)
    auth_failed = code in _AUTH_CODES or enhanced in _AUTH_ENHANCED
    if enhanced is not None:
        sender_fault, bounce = _by_enhanced(enhanced, code)
    else:
        sender_fault, bounce = _by_code(code)
    if auth_failed:
        sender_fault, bounce = True, None
    lowered = text.lower()
    throttled = (
        enhanced in _THROTTLE_ENHANCED
        or (code == 454 and "throttl" in lowered)
        or (code == 421 and ("rate" in lowered or "too many" in lowered))
        or (
            enhanced is not None
            and enhanced.startswith("4.7.")
            and _SLOW_DOWN.search(lowered) is not None
        )
    )
    if throttled:
        bounce = None  # e.g. Gmail's 4.2.1 "receiving mail too fast": the mailbox is fine
    return Classification(
        kind,
        code,
        enhanced,
        sender_fault=sender_fault,
        auth_failed=auth_failed,
        bounce=bounce,
        throttled=throttled,
    )
