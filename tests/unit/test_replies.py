"""Reply classification: kind from the basic code, fault and bounce from the enhanced code."""

from __future__ import annotations

import pytest

from campaignd.domain import OutcomeKind
from campaignd.replies import classify, enhanced_code


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.1.1 no such user", "5.1.1"),
        ("  4.2.2 mailbox full", "4.2.2"),
        ("5.1.10 null MX", "5.1.10"),
        ("2.0.0 OK", "2.0.0"),
        ("no code here", None),
        ("5.1 short", None),
        ("5.1.1.1 too long", None),
        ("", None),
    ],
)
def test_enhanced_code_is_read_from_the_start(text: str, expected: str | None) -> None:
    assert enhanced_code(text) == expected


@pytest.mark.parametrize(
    ("code", "text", "kind", "sender_fault", "bounce"),
    [
        (250, "2.0.0 OK", OutcomeKind.SENT, False, None),
        (550, "5.1.1 no such user", OutcomeKind.PERMANENT, False, "hard"),
        (550, "5.1.2 bad domain", OutcomeKind.PERMANENT, False, "hard"),
        (550, "5.1.10 null MX", OutcomeKind.PERMANENT, False, "hard"),
        (552, "5.2.2 mailbox full", OutcomeKind.PERMANENT, False, "soft"),
        (452, "4.2.2 mailbox full", OutcomeKind.TRANSIENT, False, "soft"),
        (451, "4.3.0 try later", OutcomeKind.TRANSIENT, True, None),
        (421, "4.4.2 closing", OutcomeKind.TRANSIENT, True, None),
        (454, "4.7.0 Throttling failure", OutcomeKind.TRANSIENT, True, None),
        (550, "5.7.1 relaying denied", OutcomeKind.PERMANENT, True, None),
        (554, "5.7.1 rejected by policy", OutcomeKind.PERMANENT, True, None),
        (553, "5.1.7 bad sender address", OutcomeKind.PERMANENT, True, None),
        (552, "5.3.4 message too big", OutcomeKind.PERMANENT, True, None),
        (550, "no such user here", OutcomeKind.PERMANENT, False, "hard"),
        (450, "mailbox busy", OutcomeKind.TRANSIENT, False, None),
        (500, "syntax error", OutcomeKind.PERMANENT, True, None),
        (None, "connection refused", OutcomeKind.TRANSIENT, True, None),
    ],
)
def test_classify(
    code: int | None, text: str, kind: OutcomeKind, sender_fault: bool, bounce: str | None
) -> None:
    c = classify(code, text)
    assert c.kind is kind
    assert c.sender_fault is sender_fault
    assert c.bounce == bounce


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (535, "5.7.8 Authentication credentials invalid"),
        (530, "5.7.0 Authentication required"),
        (534, "5.7.9 mechanism too weak"),
        (538, "5.7.11 Encryption required"),
        (535, "bad credentials"),
    ],
)
def test_authentication_failures(code: int, text: str) -> None:
    c = classify(code, text)
    assert c.auth_failed
    assert c.sender_fault
    assert c.kind is OutcomeKind.PERMANENT


def test_policy_5_7_0_is_not_an_auth_failure() -> None:
    c = classify(550, "5.7.0 message rejected by policy")
    assert not c.auth_failed
    assert c.sender_fault


def test_enhanced_code_of_another_class_is_ignored() -> None:
    c = classify(451, "5.1.1 nonsense")
    assert c.enhanced is None
    assert c.kind is OutcomeKind.TRANSIENT


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (454, "4.7.0 Throttling failure: Maximum sending rate exceeded"),
        (421, "4.7.28 Our system has detected an unusual rate"),
        (450, "4.2.1 The user you are trying to contact is receiving mail too quickly"),
    ],
)
def test_throttling_asks_to_slow_down(code: int, text: str) -> None:
    c = classify(code, text)
    assert c.throttled
    assert c.kind is OutcomeKind.TRANSIENT
    assert c.bounce is None


def test_a_plain_4xx_is_not_throttling() -> None:
    assert not classify(451, "4.3.0 try later").throttled
