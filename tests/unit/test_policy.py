"""Campaign transitions and the ledger decision for each kind of send outcome."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest

from campaignd.domain import CampaignStatus as S
from campaignd.domain import DeliveryStatus, OutcomeKind, Recipient, SendOutcome
from campaignd.errors import TransitionRefused
from campaignd.policy import RetryPolicy, Unreachable, check_action, decide

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy(max_attempts=3, backoff=60.0)


def recipient(attempts: int = 0) -> Recipient:
    return Recipient(1, 1, 1, uuid.uuid4(), "a@example.com", "A", {}, attempts)


@pytest.mark.parametrize(
    ("action", "current", "target"),
    [
        ("start", S.DRAFT, S.RUNNING),
        ("start", S.PAUSED, S.RUNNING),
        ("start", S.SCHEDULED, S.RUNNING),
        ("pause", S.RUNNING, S.PAUSED),
        ("resume", S.PAUSED, S.RUNNING),
        ("cancel", S.RUNNING, S.CANCELLED),
        ("cancel", S.PAUSED, S.CANCELLED),
        ("cancel", S.DRAFT, S.CANCELLED),
        ("schedule", S.DRAFT, S.SCHEDULED),
    ],
)
def test_allowed_transitions(action: str, current: S, target: S) -> None:
    _, to = check_action(action, current, NOW)
    assert to is target


@pytest.mark.parametrize(
    ("action", "current"),
    [
        ("pause", S.DRAFT),
        ("resume", S.RUNNING),
        ("start", S.FINISHED),
        ("start", S.CANCELLED),
        ("cancel", S.FINISHED),
        ("cancel", S.CANCELLED),
        ("schedule", S.RUNNING),
    ],
)
def test_refused_transitions_say_why(action: str, current: S) -> None:
    with pytest.raises(TransitionRefused, match=f"cannot {action} a {current.value} campaign"):
        check_action(action, current, NOW)


def test_schedule_needs_send_time() -> None:
    with pytest.raises(TransitionRefused, match="send time"):
        check_action("schedule", S.DRAFT, None)


def _decide(outcome: SendOutcome, attempts: int = 0) -> tuple[DeliveryStatus, int, bool]:
    rec = decide(recipient(attempts), outcome, "<id@x>", POLICY, NOW, random.Random(1))
    return rec.status, rec.attempts, rec.sender_fault


def test_sent_is_recorded_with_reply() -> None:
    rec = decide(
        recipient(),
        SendOutcome(OutcomeKind.SENT, "s1", 250, "2.0.0", "ok"),
        "<m@x>",
        POLICY,
        NOW,
        random.Random(1),
    )
    assert (rec.status, rec.attempts, rec.code, rec.server, rec.message_id) == (
        DeliveryStatus.SENT,
        1,
        250,
        "s1",
        "<m@x>",
    )


def test_permanent_recipient_failure_is_final_and_not_sender_fault() -> None:
    out = SendOutcome(OutcomeKind.PERMANENT, "s1", 550, "5.1.1", "5.1.1 no such user")
    assert _decide(out) == (DeliveryStatus.FAILED, 1, False)


def test_transient_is_deferred_with_backoff_then_failed_when_exhausted() -> None:
    out = SendOutcome(OutcomeKind.TRANSIENT, "s1", 451, "4.3.0", "4.3.0 try later")
    rec = decide(recipient(0), out, "<m@x>", POLICY, NOW, random.Random(1))
    assert rec.status is DeliveryStatus.DEFERRED
    assert rec.next_attempt_at is not None
    assert dt.timedelta(seconds=47) <= rec.next_attempt_at - NOW <= dt.timedelta(seconds=73)
    assert _decide(out, attempts=2)[0] is DeliveryStatus.FAILED


def test_unknown_is_never_retried() -> None:
    out = SendOutcome(OutcomeKind.UNKNOWN, "s1", None, None, "no reply after final dot")
    assert _decide(out) == (DeliveryStatus.UNKNOWN, 1, False)


def test_connection_error_defers_without_using_an_attempt_and_is_sender_fault() -> None:
    out = SendOutcome(OutcomeKind.TRANSIENT, None, None, None, "all down", connection_error=True)
    assert _decide(out, attempts=2) == (DeliveryStatus.DEFERRED, 2, True)


def test_auth_and_policy_replies_are_sender_faults() -> None:
    auth = SendOutcome(OutcomeKind.PERMANENT, "s1", 535, "5.7.8", "5.7.8 bad credentials")
    assert _decide(auth)[2] is True


def test_unreachable_pauses_only_after_the_limit_of_connection_failures() -> None:
    down = SendOutcome(
        OutcomeKind.TRANSIENT, text="connect: connection to h:25 refused", connection_error=True
    )
    watch = Unreachable("email", limit=120.0)
    assert watch.observe(down, NOW) is None
    assert watch.observe(down, NOW + dt.timedelta(seconds=119)) is None
    reason = watch.observe(down, NOW + dt.timedelta(seconds=120))
    assert reason == (
        "all SMTP servers of messenger email unreachable since 2026-11-22T12:00:00+00:00: "
        "connect: connection to h:25 refused"
    )


@pytest.mark.parametrize(
    "answer",
    [
        SendOutcome(OutcomeKind.SENT, code=250),
        SendOutcome(OutcomeKind.TRANSIENT, code=451, text="4.3.0 later"),
        SendOutcome(OutcomeKind.PERMANENT, code=550, text="5.1.1 no user"),
    ],
)
def test_any_reply_from_a_server_restarts_the_unreachable_watch(answer: SendOutcome) -> None:
    down = SendOutcome(OutcomeKind.TRANSIENT, text="refused", connection_error=True)
    watch = Unreachable("email", limit=60.0)
    watch.observe(down, NOW)
    assert watch.observe(answer, NOW + dt.timedelta(seconds=59)) is None
    assert watch.observe(down, NOW + dt.timedelta(seconds=61)) is None  # a new watch from here
    assert watch.observe(down, NOW + dt.timedelta(seconds=121)) is not None
