"""Pure text heuristics for inbound mail: status codes and failure reasons in free text, what a
status means for the recipient, and the recognisable phrases of bounces, delays, auto-replies
and challenge-response systems.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from campaignd.bounces.dsn import decoded, first
from campaignd.bounces.inbound import Fields
from campaignd.bounces.rules import BounceType
from campaignd.replies import classify

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
_BASIC = re.compile(r"(?<![\w.#-])([245][0-5]\d)(?=[\s:-])(?!-\d)")
_REPLY = re.compile(r"(?<![\w.#-])[245][0-5]\d[ -]{1,3}[245]\.\d{1,3}\.\d{1,3}(?!\d)")
_BASIC_START = re.compile(r"^\s*#?([245][0-5]\d)(?=[\s:-]|$)")

#: Reasons that name the recipient's address as gone, when no precise status code says so.
HARD_PHRASES = re.compile(
    r"user unknown|unknown (?:user|recipient|local[- ]part|address)|no such (?:user|mailbox|"
    r"recipient|address|account)|does(?: ?no|n[o']?)t exist|doesn'?t have an? \S{1,64} account|"
    r"account (?:has been |is )?(?:disabled|deactivated|closed|suspended)|invalid (?:recipient|"
    r"mailbox|address)|recipient (?:address )?(?:not found|unknown)|(?:mailbox|address) not found|"
    r"recipnotfound|unrouteable address|not our customer|mailbox is inactive",
    re.IGNORECASE,
)
#: Reasons that say the mailbox is full or over quota.
SOFT_PHRASES = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|exhausted)|exceeded (?:the |its )?"
    r"(?:storage|quota)|insufficient (?:system )?storage|mailbox size limit|out of storage",
    re.IGNORECASE,
)
#: Reasons about us (our message, address, server or reputation), not about the recipient.
POLICY_PHRASES = re.compile(
    r"\bspam\b|blocked|block ?list|blacklist|\bdnsbl\b|reputation|\bpolicy\b|not authori[sz]ed|"
    r"\bdmarc\b|\bspf\b|\bdkim\b|unauthenticated|relay(?:ing)? (?:denied|not permitted)|"
    r"message (?:too large|size exceeds)",
    re.IGNORECASE,
)

#: Subjects and senders of mail delivery software.
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|failed|has failed|problem)|"
    r"mail delivery failed|failure notice|returned mail|could not be delivered|non-?delivery|"
    r"delivery notification|nicht zustellbar|non remis",
    re.IGNORECASE,
)
BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
BOUNCE_BODY = re.compile(
    r"created automatically by mail delivery software|this is the qmail-send program|"
    r"delivery has failed to these recipients|your message (?:wasn't|was not|could not be) "
    r"delivered|could not be delivered to one or more|did not reach some or all of the intended|"
    r"permanent fatal errors|unable to deliver your message|message could not be delivered|"
    r"delivery to the following recipients? failed|wasn't able to deliver your message",
    re.IGNORECASE,
)
DELAY = re.compile(
    r"\bdelayed\b|delay (?:warning|notification)|still being retried|will (?:continue to )?(?:re)?"
    r"try|has not yet been delivered|not been delivered yet|(?:will|to) be retried",
    re.IGNORECASE,
)
PERMANENT = re.compile(
    r"permanent(?:ly)? (?:fatal )?(?:error|failure|failed)|could not be delivered|"
    r"delivery (?:has )?failed|gave up|giving up|undeliverable",
    re.IGNORECASE,
)
#: Where a bounce's quoted copy of the original begins.
COPY_MARKER = re.compile(
    r"^[ \t>]*(?:-{2,}[ \t]*(?:this is a copy of (?:the|your) message|below this line is a copy"
    r"|original message|the header of the original message|forwarded message)[^\n]*"
    r"|original message headers:?[ \t]*)$",
    re.IGNORECASE | re.MULTILINE,
)
AUTO_REPLY_SUBJECT = re.compile(
    r"out of (?:the )?office|auto(?:matic)?[- ]?(?:reply|response|antwort)|autoreply|"
    r"abwesenheitsnotiz|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica",
    re.IGNORECASE,
)
CHALLENGE = re.compile(
    r"verify (?:that )?you are (?:a )?(?:human|real person|not a (?:robot|spammer))|"
    r"please (?:verify|confirm) (?:your|this|the) (?:message|e-?mail|address|identity)|"
    r"sender verification|spam verification|challenge[- ]response|approved senders? list|"
    r"(?:add|added) (?:you )?to (?:my|the) (?:whitelist|allow ?list|guest list)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one failed delivery means: a bounce type, or None with the reason it is none."""

    bounce: BounceType | None
    sender_fault: bool
    note: str


def enhanced(text: str) -> str | None:
    """The first RFC 3463 status code anywhere in `text`, normalised ("5.01.1" -> "5.1.1")."""
    m = _ENHANCED.search(text)
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}" if m else None


def basic_at_start(text: str) -> int | None:
    m = _BASIC_START.match(text)
    return int(m.group(1)) if m else None


def diagnostic_line(text: str) -> str:
    """The line of a free-text bounce that carries the remote server's reply, from its code
    ("550 5.1.1 ..." first, else the first status code, else the first basic code)."""
    m = _REPLY.search(text) or _ENHANCED.search(text) or _BASIC.search(text)
    if m is None:
        return ""
    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.end())
    line = text[start : end if end >= 0 else len(text)]
    code = _BASIC.search(line)
    if code is not None and code.start() <= m.start() - start:
        line = line[code.start() :]
    return " ".join(line.split()).strip(" #<>'\"")[:500]


def _by_phrase(text: str) -> Verdict | None:
    if POLICY_PHRASES.search(text):
        return Verdict(None, True, "refused for a reason about the sender (policy)")
    if SOFT_PHRASES.search(text):
        return Verdict(BounceType.SOFT, False, "mailbox full")
    if HARD_PHRASES.search(text):
        return Verdict(BounceType.HARD, False, "the address does not exist")
    return None


def verdict(status: str | None, diagnostic: str) -> Verdict:
    """The meaning of a failed delivery (Action: failed, or a free-text bounce).

    A precise status code decides, read like a send-time reply (campaignd.replies): 5.1.x
    (except 5.1.7/5.1.8, our sender address) and 5.2.1 or 5.4.4 hard, other x.2.x soft; x.7.x
    (policy, authentication), 5.3.x, 5.5.x, 5.6.x and throttling are about us: no bounce. A
    4.x.x status on a failed delivery means the retries ran out, so it is soft. A vague status
    (x.0.0 or none) is read from the basic code and the reason's wording; a failure nothing
    explains is soft (counted, suppressed only after [bounces] soft.count of them).
    """
    reply = diagnostic.strip()
    basic = basic_at_start(reply)
    if basic is not None:
        reply = reply.lstrip(" #")[3:].lstrip(" -")
    found = enhanced(reply[:40])
    code = status if status and not status.endswith(".0.0") else found or status
    if code is None and basic is not None:
        code = f"{str(basic)[0]}.0.0"
    if code is None or code.endswith(".0.0"):
        by_text = _by_phrase(diagnostic)
        if by_text is not None:
            return by_text
        if basic is not None and (code is None or code[0] == str(basic)[0]):
            c = classify(basic, "")
            if c.bounce is not None and not c.sender_fault:
                return Verdict(BounceType(c.bounce), False, f"reply {basic}")
            if c.sender_fault and basic >= 500:
                return Verdict(None, True, f"reply {basic} is about the sender")
        return Verdict(BounceType.SOFT, False, "failed for an unstated reason")
    cls, subject = code[0], code.split(".")[1]
    c = classify(550 if cls == "5" else 450, code)
    if cls == "2":
        return Verdict(None, False, "a success status")
    if subject == "7" or c.auth_failed or c.throttled or code[2:] in ("1.7", "1.8"):
        return Verdict(None, True, f"{code} is about the sender (policy, authentication, rate)")
    if c.bounce is not None:
        return Verdict(BounceType(c.bounce), False, code)
    if cls == "4":
        return Verdict(BounceType.SOFT, False, f"{code}: retries ran out")
    if subject in ("0", "4"):  # other / network: the wording may still name a missing address
        by_text = _by_phrase(diagnostic)
        if by_text is not None and by_text.bounce is BounceType.HARD:
            return by_text
    return Verdict(None, True, f"{code} is about the message or the sending system")


def auto_reply(head: Fields) -> str:
    """Why `head` (a mail's header fields) marks an auto-reply (RFC 3834 and customs), or ""."""
    auto = (first(head, "auto-submitted") or "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if first(head, name) is not None:
            return name
    precedence = (first(head, "precedence") or "").strip().lower()
    if precedence in ("auto_reply", "bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    if AUTO_REPLY_SUBJECT.search(decoded(first(head, "subject") or "")):
        return "subject"
    return ""


def challenge(head: Fields, text: str, to_unsubscribe: bool) -> str:
    """Why a mail is a challenge-response request, or "". At an unsubscribe address only
    headers count: wording alone must not cost a subscriber's unsubscribe."""
    for name, _ in head:
        if name.startswith(("x-challenge", "x-tmda", "x-boxbe", "x-spamarrest")):
            return name
    if to_unsubscribe:
        return ""
    subject = decoded(first(head, "subject") or "")
    if CHALLENGE.search(subject) or CHALLENGE.search(text[:4096]):
        return "wording"
    return ""
