"""What each SMTP failure means for a send: transient (and whether to retry it on another
connection) before the final ".", unknown after it; a refusal read before a failure decides."""

from __future__ import annotations

import pytest

from campaignd.domain import OutcomeKind
from campaignd.errors import ConnectionLost, ReplyTimeout, WireError
from campaignd.messengers.outcomes import (
    envelope_failed,
    failed_after,
    failed_before,
    final,
    first_refusal,
)
from campaignd.messengers.wire import Reply

OK = Reply(250, "ok")


def test_a_failure_before_the_message_is_transient_and_a_timeout_never_stale() -> None:
    lost = failed_before("s", False, stale=True)
    assert lost.outcome.kind is OutcomeKind.TRANSIENT
    assert lost.outcome.connection_error and lost.stale
    assert "lost before" in lost.outcome.text
    timeout = failed_before("s", True, stale=True)
    assert timeout.outcome.kind is OutcomeKind.TRANSIENT and not timeout.stale
    assert "timeout" in timeout.outcome.text


@pytest.mark.parametrize(("timed_out", "words"), [(False, "lost after"), (True, "within 7s")])
def test_no_reply_after_the_message_is_unknown(timed_out: bool, words: str) -> None:
    delivery = failed_after("s", timed_out, 7.0)
    assert delivery.outcome.kind is OutcomeKind.UNKNOWN and not delivery.stale
    assert words in delivery.outcome.text and "may have been accepted" in delivery.outcome.text


@pytest.mark.parametrize(
    ("exc", "adopted", "reused", "replies", "stale"),
    [
        (ConnectionLost("x"), False, True, [], True),  # first reply on a reused connection
        (ConnectionLost("x"), False, True, [OK], False),  # the connection answered: not stale
        (ConnectionLost("x"), False, False, [], False),  # a fresh connection: not stale
        (ReplyTimeout("x"), False, True, [], False),  # a timeout is never stale...
        (ReplyTimeout("x"), True, True, [OK], True),  # ...unless adopted (its message unsent)
        (ConnectionLost("x"), True, False, [OK], True),
    ],
)
def test_a_failure_while_the_envelope_is_answered(
    exc: WireError, adopted: bool, reused: bool, replies: list[Reply], stale: bool
) -> None:
    delivery = envelope_failed("s", exc, replies, 1, adopted, reused)
    assert delivery.outcome.kind is OutcomeKind.TRANSIENT and delivery.outcome.connection_error
    assert delivery.stale is stale


def test_a_refusal_read_before_the_failure_decides() -> None:
    replies = [OK, Reply(550, "5.1.1 no such user")]
    delivery = envelope_failed("s", ConnectionLost("x"), replies, 1, True, True)
    assert delivery.outcome.kind is OutcomeKind.PERMANENT and delivery.outcome.code == 550
    assert not delivery.stale


def test_the_refusal_that_ends_a_transaction() -> None:
    assert first_refusal([], 2) is None
    assert first_refusal([Reply(451, "later")], 2) == Reply(451, "later")
    assert first_refusal([OK, Reply(550, "no"), OK], 2) is None  # one recipient accepted
    assert first_refusal([OK, Reply(550, "no"), Reply(551, "no")], 2) == Reply(550, "no")
    assert first_refusal([OK, Reply(421, "bye")], 2) == Reply(421, "bye")


def test_a_partial_refusal_is_noted_on_a_success() -> None:
    delivery = final("s", 250, "queued", (550, "no such user"))
    assert delivery.outcome.kind is OutcomeKind.SENT
    assert delivery.outcome.text == "queued (refused: 550 no such user)"
    assert final("s", 550, "no", None).outcome.kind is OutcomeKind.PERMANENT
