"""Envelope addresses and the DATA payload."""

from __future__ import annotations

import pytest

from campaignd.messengers.envelope import Envelope, InvalidAddress, wire_payload


def test_display_names_are_stripped() -> None:
    env = Envelope.build("News <news@example.org>", ["b@example.net"], b"x")
    assert env.mail_from == b"FROM:<news@example.org>"
    assert env.rcpt_to == (b"TO:<b@example.net>",)
    assert not env.smtputf8


def test_null_sender_is_allowed() -> None:
    assert Envelope.build("", ["b@example.net"], b"x").mail_from == b"FROM:<>"


def test_non_ascii_domain_becomes_idna_without_smtputf8() -> None:
    env = Envelope.build("a@example.org", ["b@bücher.example"], b"x")
    assert env.rcpt_to == (b"TO:<b@xn--bcher-kva.example>",)
    assert not env.smtputf8


def test_non_ascii_local_part_needs_smtputf8() -> None:
    env = Envelope.build("a@example.org", ["jürgen@example.net"], b"x")
    assert env.smtputf8
    assert env.rcpt_to == ("TO:<jürgen@example.net>".encode(),)


def test_eight_bit_body_is_noticed() -> None:
    assert Envelope.build("a@x.org", ["b@x.org"], "é".encode()).eightbit


@pytest.mark.parametrize(
    "recipient",
    ["b@example.net\r\nRCPT TO:<c@example.net>", "b @example.net", "no-at-sign", "b@ex>ample"],
)
def test_unusable_addresses_are_refused(recipient: str) -> None:
    with pytest.raises(InvalidAddress):
        Envelope.build("a@example.org", [recipient], b"x")


def test_no_recipients_is_refused() -> None:
    with pytest.raises(InvalidAddress):
        Envelope.build("a@example.org", [], b"x")


@pytest.mark.parametrize(
    ("message", "payload"),
    [
        (b"A: b\r\n\r\nbody\r\n", b"A: b\r\n\r\nbody\r\n"),
        (b"A: b\r\n\r\nbody", b"A: b\r\n\r\nbody\r\n"),
        (b"A: b\n\nbare\nlf\r\n", b"A: b\r\n\r\nbare\r\nlf\r\n"),
        (b"A: b\r\n\r\n.\r\n..x\r\n", b"A: b\r\n\r\n..\r\n...x\r\n"),
        (b".starts\r\n", b"..starts\r\n"),
    ],
)
def test_wire_payload(message: bytes, payload: bytes) -> None:
    assert wire_payload(message) == payload


def test_wire_payload_leaves_clean_messages_alone() -> None:
    message = b"A: b\r\n\r\nclean\r\n"
    assert wire_payload(message) is message
