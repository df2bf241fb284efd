"""Pure decisions: campaign state transitions and what a send outcome means for the ledger."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from campaignd.domain import (
    CampaignStatus,
    DeliveryRecord,
    DeliveryStatus,
    OutcomeKind,
    Recipient,
    SendOutcome,
)
from campaignd.errors import TransitionRefused

S = CampaignStatus

#: Operator actions -> (statuses they may start from, status they lead to). listmonk's rules,
#: plus cancelling a scheduled campaign (operators expect to call off a future send) or a draft
#: (so test drafts do not pile up as drafts).
ACTIONS: dict[str, tuple[frozenset[CampaignStatus], CampaignStatus]] = {
    "schedule": (frozenset({S.DRAFT, S.PAUSED}), S.SCHEDULED),
    "start": (frozenset({S.DRAFT, S.SCHEDULED, S.PAUSED}), S.RUNNING),
    "pause": (frozenset({S.RUNNING}), S.PAUSED),
    "resume": (frozenset({S.PAUSED}), S.RUNNING),
    "cancel": (frozenset({S.DRAFT, S.RUNNING, S.PAUSED, S.SCHEDULED}), S.CANCELLED),
    "unschedule": (frozenset({S.SCHEDULED}), S.DRAFT),
}

#: Campaigns whose content, lists and settings may be changed (`campaigns update`): not yet
#: sending, or paused (fix the body, retry the failed, resume). Running ones would change
#: under the sender's feet; finished and cancelled ones are history.
EDITABLE = frozenset({S.DRAFT, S.SCHEDULED, S.PAUSED})
#: Campaigns that may be deleted (with their ledger rows): nothing of them is in flight.
DELETABLE = frozenset({S.DRAFT, S.FINISHED, S.CANCELLED})
#: A list or template used by a campaign in one of these statuses is not deleted.
LIST_USERS = frozenset({S.DRAFT, S.SCHEDULED, S.RUNNING, S.PAUSED})
TEMPLATE_USERS = frozenset(CampaignStatus)


def check_action(
    action: str, current: CampaignStatus, send_at: dt.datetime | None
) -> tuple[frozenset[CampaignStatus], CampaignStatus]:
    """Return (expected, target) for an operator action, or raise TransitionRefused saying why."""
    expected, target = ACTIONS[action]
    if current not in expected:
        allowed = ", ".join(sorted(s.value for s in expected))
        raise TransitionRefused(
            f"cannot {action} a {current.value} campaign (only from: {allowed})"
        )
    if action == "schedule" and send_at is None:
        raise TransitionRefused("cannot schedule a campaign without a send time (--send-at)")
    return expected, target


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    backoff: float  # seconds before the first retry; doubles each attempt
    max_backoff: float = 3600.0
    connection_retry: float = 5.0  # seconds before retrying when no server could be reached

    def delay(self, attempts: int, rng: random.Random) -> float:
        base = min(self.max_backoff, self.backoff * (2 ** max(0, attempts - 1)))
        return float(base * (0.8 + 0.4 * rng.random()))  # +-20% jitter spreads retries out


def _is_sender_fault(outcome: SendOutcome) -> bool:
    """Failures that say our side is wrong (connection, auth, policy), not the recipient."""
    if outcome.kind in (OutcomeKind.SENT, OutcomeKind.UNKNOWN):
        return False
    if outcome.connection_error or outcome.auth_failed:
        return True
    from campaignd.replies import classify

    return classify(outcome.code, outcome.text).sender_fault


def decide(
    recipient: Recipient,
    outcome: SendOutcome,
    message_id: str,
    policy: RetryPolicy,
    now: dt.datetime,
    rng: random.Random,
) -> DeliveryRecord:
    """The ledger row for one outcome: sent, failed, unknown or deferred to a retry time."""
    fault = _is_sender_fault(outcome)
    # A connection-level failure never reached the recipient: it does not use up attempts.
    attempts = recipient.attempts + (0 if outcome.connection_error else 1)
    status: DeliveryStatus
    next_at: dt.datetime | None = None
    if outcome.kind is OutcomeKind.SENT:
        status = DeliveryStatus.SENT
    elif outcome.kind is OutcomeKind.UNKNOWN:
        status = DeliveryStatus.UNKNOWN
    elif outcome.kind is OutcomeKind.PERMANENT:
        status = DeliveryStatus.FAILED
    elif outcome.connection_error:
        status = DeliveryStatus.DEFERRED
        next_at = now + dt.timedelta(seconds=policy.connection_retry)
    elif attempts >= policy.max_attempts:
        status = DeliveryStatus.FAILED
    else:
        status = DeliveryStatus.DEFERRED
        next_at = now + dt.timedelta(seconds=policy.delay(attempts, rng))
    return DeliveryRecord(
        ledger_id=recipient.ledger_id,
        status=status,
        attempts=attempts,
        code=outcome.code,
        enhanced=outcome.enhanced,
        text=outcome.text[:1000],
        server=outcome.server,
        message_id=message_id,
        next_attempt_at=next_at,
        sender_fault=fault,
    )


def throttled(
    recipient: Recipient, outcome: SendOutcome, message_id: str, retry_at: dt.datetime
) -> DeliveryRecord:
    """A "too fast" reply from a domain of a [[domain_limits]] group: the recipient waits for
    the end of the group's pause; no attempt is used and it is no send error (the pacing is
    ours to fix, not the recipient's or the server's)."""
    return DeliveryRecord(
        ledger_id=recipient.ledger_id,
        status=DeliveryStatus.DEFERRED,
        attempts=recipient.attempts,
        code=outcome.code,
        enhanced=outcome.enhanced,
        text=outcome.text[:1000],
        server=outcome.server,
        message_id=message_id,
        next_attempt_at=retry_at,
        sender_fault=False,
    )


@dataclass(slots=True)
class Unreachable:
    """Whether a campaign's sends have reached no server of its messenger for `limit` seconds.

    Every outcome goes through `observe`: one that reached a server (whatever it answered)
    clears the watch; connection-level failures keep it, and once they have lasted `limit`
    seconds `observe` returns the pause reason. The recipients stay deferred, for a resume."""

    messenger: str
    limit: float  # seconds (app.pause_after_unreachable)
    since: dt.datetime | None = None

    def observe(self, outcome: SendOutcome, now: dt.datetime) -> str | None:
        if not outcome.connection_error:
            self.since = None
            return None
        if self.since is None:
            self.since = now
        if (now - self.since).total_seconds() < self.limit:
            return None
        last = f"{outcome.code or ''} {outcome.text}".strip() or "no reply"
        return (
            f"all SMTP servers of messenger {self.messenger} unreachable since "
            f"{self.since.astimezone(dt.UTC).isoformat(timespec='seconds')}: {last}"
        )


def render_failure(recipient: Recipient, message_id: str, reason: str) -> DeliveryRecord:
    """A recipient whose message could not be built (e.g. a template error for their data)."""
    return DeliveryRecord(
        ledger_id=recipient.ledger_id,
        status=DeliveryStatus.FAILED,
        attempts=recipient.attempts,
        code=None,
        enhanced=None,
        text=f"message not built: {reason}"[:1000],
        server=None,
        message_id=message_id,
    )
