"""envelope.Envelope.build: the sender, checked once per address, is refused every time."""

from __future__ import annotations

import pytest

from campaignd.errors import InvalidAddress
from campaignd.messengers.envelope import Envelope


def test_the_same_sender_gives_the_same_envelope_each_time() -> None:
    envelopes = [
        Envelope.build("News <news@bücher.example>", [f"u{i}@example.net"], b"x") for i in range(3)
    ]
    assert {e.mail_from for e in envelopes} == {b"FROM:<news@xn--bcher-kva.example>"}
    assert [e.rcpt_to for e in envelopes] == [(b"TO:<u%d@example.net>" % i,) for i in range(3)]


def test_a_refused_sender_is_refused_every_time() -> None:
    for _ in range(3):
        with pytest.raises(InvalidAddress, match="sender address"):
            Envelope.build("news @example.com", ["u@example.net"], b"x")


def test_a_sender_that_needs_smtputf8_says_so_each_time() -> None:
    for _ in range(2):
        envelope = Envelope.build("jörg@example.com", ["u@example.net"], b"x")
        assert envelope.smtputf8
    assert not Envelope.build("news@example.com", ["u@example.net"], b"x").smtputf8
