"""Envelope addresses and the DATA payload."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignd.errors import InvalidAddress
from campaignd.messengers.envelope import Envelope, wire_payload


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


def test_international_domains_are_idna_2008() -> None:
    # IDNA 2003 mapped ß to ss: RCPT TO:<x@fass.de>, somebody else's domain.
    env = Envelope.build("News <news@faß.de>", ["x@faß.de"], b"x")
    assert env.mail_from == b"FROM:<news@xn--fa-hia.de>"
    assert env.rcpt_to == (b"TO:<x@xn--fa-hia.de>",)


def test_default_sender_on_localhost_is_usable() -> None:
    env = Envelope.build("campaignd <noreply@localhost>", ["b@example.net"], b"x")
    assert env.mail_from == b"FROM:<noreply@localhost>"


def test_non_ascii_local_part_needs_smtputf8() -> None:
    env = Envelope.build("a@example.org", ["jürgen@example.net"], b"x")
    assert env.smtputf8
    assert env.rcpt_to == ("TO:<jürgen@example.net>".encode(),)


def test_eight_bit_body_is_noticed() -> None:
    assert Envelope.build("a@x.org", ["b@x.org"], "é".encode()).eightbit


@pytest.mark.parametrize(
    "recipient",
    [
        "b@example.net\r\nRCPT TO:<c@example.net>",
        "b @example.net",
        "no-at-sign",
        "b@ex>ample",
        "b@example.net> NOTIFY=NEVER",
        "b\uff1e\u3000NOTIFY\uff1dNEVER@example.net",  # full-width "> NOTIFY=NEVER"
        "b\u3000x@example.net",
        "b\x00@example.net",
        "b@exam\uff1eple.net",
    ],
)
def test_unusable_addresses_are_refused(recipient: str) -> None:
    with pytest.raises(InvalidAddress):
        Envelope.build("a@example.org", [recipient], b"x")


def test_a_refused_address_says_which_and_why() -> None:
    with pytest.raises(InvalidAddress, match=r"recipient address .* FULLWIDTH GREATER-THAN"):
        Envelope.build("a@example.org", ["b\uff1e@example.net"], b"x")


_SMTP_SYNTAX = frozenset(' <>=()[],;:\\"\r\n\x00\t')


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(
        st.one_of(st.sampled_from("ab.=+<> \r\n\x00＞＜＝　ü"), st.characters()),
        min_size=1,
        max_size=10,
    ),
    st.sampled_from(["example.net", "faß.de", "bücher.example", "ex＞am.net", "ex am.net"]),
)
def test_no_address_can_add_a_parameter(local: str, domain: str) -> None:
    try:
        env = Envelope.build("a@example.org", [f"{local}@{domain}"], b"x")
    except InvalidAddress:
        return
    [rcpt] = env.rcpt_to
    assert rcpt.startswith(b"TO:<") and rcpt.endswith(b">")
    inner = rcpt[4:-1].decode("utf-8")
    # Even read by a server that compatibility-normalises the line, the address holds no
    # space, bracket, "=" or other SMTP syntax: nothing ends it or adds a parameter.
    normalised = unicodedata.normalize("NFKC", inner)
    local_part = normalised.rpartition("@")[0]
    assert "=" not in local_part or "=" in local
    assert not set(normalised) & (_SMTP_SYNTAX - {"="})
    assert all(c.isprintable() for c in normalised)


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
