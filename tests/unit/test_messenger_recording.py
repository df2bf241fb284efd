"""The recording twin: records calls, answers as scripted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from campaignd.domain import OutcomeKind, SendOutcome
from campaignd.messengers.recording import RecordingMessenger


async def test_records_and_answers_sent_by_default() -> None:
    m = RecordingMessenger()
    outcome = await m.send("a@x.org", ["b@x.org"], b"msg")
    assert outcome.kind is OutcomeKind.SENT
    assert outcome.server == "recording"
    assert [(s.sender, s.recipients, s.message) for s in m.sent] == [
        ("a@x.org", ("b@x.org",), b"msg")
    ]


async def test_scripted_outcomes_come_first_in_order() -> None:
    m = RecordingMessenger()
    m.script([OutcomeKind.TRANSIENT, SendOutcome(OutcomeKind.PERMANENT, code=550)])
    kinds = [(await m.send("a@x.org", ["b@x.org"], b"m")).kind for _ in range(3)]
    assert kinds == [OutcomeKind.TRANSIENT, OutcomeKind.PERMANENT, OutcomeKind.SENT]
    assert len(m.calls) == 3
    assert len(m.sent) == 1


async def test_answer_callable_sees_the_message() -> None:
    def answer(sender: str, recipients: Sequence[str], message: bytes) -> SendOutcome:
        bad = recipients[0].startswith("bad")
        return SendOutcome(OutcomeKind.PERMANENT if bad else OutcomeKind.SENT)

    m = RecordingMessenger(answer=answer)
    assert (await m.send("a@x.org", ["bad@x.org"], b"m")).kind is OutcomeKind.PERMANENT
    assert (await m.send("a@x.org", ["ok@x.org"], b"m")).kind is OutcomeKind.SENT


async def test_delay_shows_concurrency() -> None:
    m = RecordingMessenger(delay=0.01)
    await asyncio.gather(*(m.send("a@x.org", ["b@x.org"], b"m") for _ in range(5)))
    assert m.peak_in_flight == 5
    assert m.in_flight == 0
