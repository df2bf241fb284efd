"""Inbound mail classification on a corpus of real-world shapes (tests/data/inbound/*.eml),
deduplication fingerprints, the BounceEvents handed to the [bounces] rules, and hostile input.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignd.bounces.classify import MailKind, classify_mail, read_mail
from campaignd.bounces.inbound import bounce_events
from campaignd.bounces.rules import BounceType

CORPUS = Path(__file__).parent.parent / "data" / "inbound"
ENVELOPE = "bounces+tok3n@news.example.com"
CAMPAIGN_A = uuid.UUID("3f1c2a9e-8b7d-4c61-9a2e-5d4b3c2a1f00")
CAMPAIGN_B = uuid.UUID("7e6d5c4b-3a29-4817-9605-f4e3d2c1b0a9")

# file -> (kind, status, recipients, shape)
EXPECTED: dict[str, tuple[MailKind, str | None, tuple[str, ...], str]] = {
    "postfix-user-unknown.eml": (MailKind.HARD, "5.1.1", ("nobody.here@example.org",), "dsn"),
    "postfix-mailbox-full.eml": (MailKind.SOFT, "5.2.2", ("full.box@example.net",), "dsn"),
    "postfix-policy-block.eml": (MailKind.IGNORE, "5.7.1", ("reader@example.com",), "dsn"),
    "postfix-expired.eml": (MailKind.SOFT, "4.4.1", ("someone@dead-mx.example",), "dsn"),
    "postfix-delay-warning.eml": (MailKind.IGNORE, "4.7.1", ("slow@example.org",), "dsn"),
    "postfix-delivered-notify.eml": (MailKind.IGNORE, "2.0.0", ("nobody.here@example.org",), "dsn"),
    "postfix-yahoo-552-mailbox-not-found.eml": (
        MailKind.HARD,
        "5.0.0",
        ("gone.away@yahoo.example",),
        "dsn",
    ),
    "exim-user-unknown.eml": (MailKind.HARD, "5.1.1", ("ex.member@example.net",), "text-bounce"),
    "exim-delay-warning.eml": (
        MailKind.IGNORE,
        "4.3.0",
        ("busy.reader@example.net",),
        "text-bounce",
    ),
    "qmail-user-unknown.eml": (
        MailKind.HARD,
        "5.1.1",
        ("old.customer@example.biz",),
        "text-bounce",
    ),
    "exchange-2003-text-ndr.eml": (
        MailKind.HARD,
        "5.1.1",
        ("j.doe@corp.example.com",),
        "text-bounce",
    ),
    "office365-recipient-not-found.eml": (
        MailKind.HARD,
        "5.1.10",
        ("a.former@contoso.example",),
        "dsn",
    ),
    "outlook-policy-s3150.eml": (MailKind.IGNORE, "5.7.1", ("someone@outlook.example",), "dsn"),
    "gmail-no-such-user.eml": (MailKind.HARD, "5.1.1", ("no.such.user@gmail.example",), "dsn"),
    "gmail-account-disabled.eml": (
        MailKind.HARD,
        "5.2.1",
        ("closed.account@gmail.example",),
        "dsn",
    ),
    "yahoo-text-no-account.eml": (
        MailKind.HARD,
        None,
        ("ghost.reader@yahoo.example",),
        "text-bounce",
    ),
    "arf-yahoo-abuse.eml": (MailKind.COMPLAINT, None, ("annoyed.reader@yahoo.example",), "arf"),
    "arf-rfc5965-headers-only.eml": (MailKind.COMPLAINT, None, ("Complainer@ISP.example",), "arf"),
    "arf-not-spam.eml": (MailKind.IGNORE, None, (), "arf"),
    "outlook-jmrp-complaint.eml": (MailKind.COMPLAINT, None, ("unhappy@outlook.example",), "jmrp"),
    "vacation-rfc3834.eml": (MailKind.IGNORE, None, (), "auto-reply"),
    "outlook-automatic-reply.eml": (MailKind.IGNORE, None, (), "auto-reply"),
    "vacation-subject-only-de.eml": (MailKind.IGNORE, None, (), "auto-reply"),
    "challenge-response-header.eml": (MailKind.IGNORE, None, (), "challenge"),
    "challenge-response-wording.eml": (MailKind.IGNORE, None, (), "challenge"),
    "unsubscribe-mailto.eml": (MailKind.IGNORE, None, (), "other"),
    "hostile-broken-mime.eml": (MailKind.IGNORE, None, (), "dsn"),
    "hostile-bad-charset-dsn.eml": (MailKind.HARD, "5.1.1", ("hurt@example.org",), "dsn"),
    "hostile-dsn-without-recipient.eml": (MailKind.IGNORE, None, (), "text-bounce"),
}


def _mail(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def test_every_corpus_file_has_an_expectation() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus(name: str) -> None:
    kind, status, recipients, shape = EXPECTED[name]
    result = read_mail(_mail(name), envelope_recipient=ENVELOPE)
    assert (result.kind, result.status, result.recipients, result.shape) == (
        kind,
        status,
        recipients,
        shape,
    ), result.reason
    assert result.envelope_recipient == ENVELOPE
    assert result.reason
    assert classify_mail(_mail(name), envelope_recipient=ENVELOPE) == result


@pytest.mark.parametrize(
    ("name", "diagnostic"),
    [
        (
            "postfix-user-unknown.eml",
            "550 5.1.1 <nobody.here@example.org>: Recipient address rejected: "
            "User unknown in virtual mailbox table",
        ),
        ("exim-user-unknown.eml", "550 5.1.1 <ex.member@example.net>: Recipient address rejected"),
        ("qmail-user-unknown.eml", "550 5.1.1 <old.customer@example.biz>... User unknown"),
        ("exchange-2003-text-ndr.eml", "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found"),
        ("office365-recipient-not-found.eml", "550 5.1.10 RESOLVER.ADR.RecipientNotFound"),
        ("yahoo-text-no-account.eml", "554: delivery error: dd This user doesn't have"),
        ("postfix-mailbox-full.eml", "552 5.2.2 <full.box@example.net>: Mailbox full"),
    ],
)
def test_diagnostic_is_the_remote_reply_without_its_type(name: str, diagnostic: str) -> None:
    assert read_mail(_mail(name)).diagnostic.startswith(diagnostic)


def test_policy_refusals_are_no_bounce_but_a_sender_fault() -> None:
    for name in ("postfix-policy-block.eml", "outlook-policy-s3150.eml"):
        result = read_mail(_mail(name))
        assert result.kind is MailKind.IGNORE
        assert result.sender_fault
        assert bounce_events(result) == []


def test_the_original_message_ties_the_bounce_to_campaign_and_subscriber() -> None:
    result = read_mail(_mail("postfix-user-unknown.eml"))
    assert result.message_id == "<AAKQ4WRQJ3VMS6QDWHS2YVT5QAAL6HMKQ2JWU2HCRUYKZA@news.example.com>"
    assert result.campaign_uuid == CAMPAIGN_A
    assert result.subscriber_uuid == uuid.UUID("9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
    names = [name for name, _ in result.original_headers]
    assert "x-campaignd-id" in names
    assert "list-unsubscribe" in names
    assert "received" not in names
    # the same from a quoted original in a plain-text bounce and from an ARF attachment
    assert read_mail(_mail("qmail-user-unknown.eml")).campaign_uuid == CAMPAIGN_B
    assert read_mail(_mail("arf-yahoo-abuse.eml")).campaign_uuid == CAMPAIGN_B


def test_an_unsubscribe_request_needs_the_unsubscribe_address() -> None:
    raw = _mail("unsubscribe-mailto.eml")
    result = read_mail(raw, envelope_recipient="unsubscribe+AbC@x.example", to_unsubscribe=True)
    assert result.kind is MailKind.UNSUBSCRIBE
    assert result.recipients == ("chris@example.com",)
    assert bounce_events(result) == []
    assert read_mail(raw).kind is MailKind.IGNORE


@pytest.mark.parametrize(
    "name",
    ["vacation-rfc3834.eml", "outlook-automatic-reply.eml", "challenge-response-header.eml"],
)
def test_machine_replies_at_the_unsubscribe_address_do_not_unsubscribe(name: str) -> None:
    assert read_mail(_mail(name), to_unsubscribe=True).kind is MailKind.IGNORE


def test_a_bounce_is_a_bounce_at_any_address() -> None:
    result = read_mail(_mail("exim-user-unknown.eml"), to_unsubscribe=True)
    assert result.kind is MailKind.HARD


def test_the_same_report_delivered_twice_has_one_fingerprint() -> None:
    for name in EXPECTED:
        raw = _mail(name)
        again = (
            b"Delivered-To: bounces@news.example.com\r\n"
            b"Received: from mx.news.example.com by imap.news.example.com; "
            b"Wed, 22 May 2024 13:00:01 +0000\r\n" + raw
        )
        assert read_mail(raw).fingerprint == read_mail(again).fingerprint, name
    prints = {read_mail(_mail(name)).fingerprint for name in EXPECTED}
    assert len(prints) == len(EXPECTED)


def test_fingerprint_without_the_original_uses_the_report() -> None:
    raw = _mail("hostile-bad-charset-dsn.eml")  # no original attached, no Message-ID
    other = raw.replace(b"hurt@example.org", b"other@example.org")
    assert read_mail(raw).fingerprint == read_mail(raw).fingerprint
    assert read_mail(raw).fingerprint != read_mail(other).fingerprint


def test_bounce_events_for_the_suppression_rules() -> None:
    result = read_mail(_mail("gmail-no-such-user.eml"))
    [event] = bounce_events(result)
    assert event.email == "no.such.user@gmail.example"
    assert event.type is BounceType.HARD
    assert event.source == "mail"
    assert event.campaign_uuid == CAMPAIGN_B
    assert event.reason.startswith("5.1.1 550-5.1.1 The email account")
    assert event.event_id == f"{result.fingerprint}/no.such.user@gmail.example"
    [complaint] = bounce_events(read_mail(_mail("arf-yahoo-abuse.eml")))
    assert complaint.type is BounceType.COMPLAINT
    assert complaint.email == "annoyed.reader@yahoo.example"
    assert bounce_events(read_mail(_mail("exim-delay-warning.eml"))) == []


def _dsn(recipients: list[tuple[str, str, str]]) -> bytes:
    blocks = "".join(
        f"Final-Recipient: rfc822; {rcpt}\nAction: {action}\nStatus: {status}\n\n"
        for rcpt, action, status in recipients
    )
    return (
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail\nMessage-ID: <d@mx>\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nreport\n\n--b\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; mx.example.org\n\n{blocks}--b--\n"
    ).encode()


@pytest.mark.parametrize(
    ("status", "kind", "sender_fault"),
    [
        ("5.1.1", MailKind.HARD, False),
        ("5.1.2", MailKind.HARD, False),
        ("5.1.10", MailKind.HARD, False),
        ("5.4.4", MailKind.HARD, False),
        ("5.2.2", MailKind.SOFT, False),
        ("4.2.2", MailKind.SOFT, False),
        ("4.4.7", MailKind.SOFT, False),
        ("5.7.1", MailKind.IGNORE, True),
        ("5.7.26", MailKind.IGNORE, True),
        ("4.7.0", MailKind.IGNORE, True),
        ("5.1.7", MailKind.IGNORE, True),
        ("5.3.4", MailKind.IGNORE, True),
        ("5.6.0", MailKind.IGNORE, True),
        ("5.0.0", MailKind.SOFT, False),
    ],
)
def test_failed_status_table(status: str, kind: MailKind, sender_fault: bool) -> None:
    result = read_mail(_dsn([("a@example.org", "failed", status)]))
    assert (result.kind, result.sender_fault, result.status) == (kind, sender_fault, status)


@pytest.mark.parametrize("action", ["delayed", "delivered", "relayed", "expanded"])
def test_non_failures_are_ignored(action: str) -> None:
    status = "4.4.1" if action == "delayed" else "2.0.0"
    assert read_mail(_dsn([("a@example.org", action, status)])).kind is MailKind.IGNORE


def test_the_worst_recipient_decides_and_each_gets_its_event() -> None:
    result = read_mail(
        _dsn(
            [
                ("late@example.org", "delayed", "4.4.1"),
                ("full@example.org", "failed", "5.2.2"),
                ("gone@example.org", "failed", "5.1.1"),
            ]
        )
    )
    assert (result.kind, result.recipients, result.status) == (
        MailKind.HARD,
        ("gone@example.org",),
        "5.1.1",
    )
    events = {(e.email, e.type) for e in bounce_events(result)}
    assert events == {("full@example.org", BounceType.SOFT), ("gone@example.org", BounceType.HARD)}


# -- hostile input --------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    tail = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return b"From: MAILER-DAEMON@x.example\r\n" + head + b"Content-Type: text/plain\r\n\r\nx" + tail


@pytest.mark.parametrize(
    "raw",
    [
        _nested(100),
        _nested(3000),
        b"Subject: " + b"A" * 5_000_000 + b"\r\n\r\nbody",
        b"".join(b"X-H%d: v\r\n" % i for i in range(100_000)) + b"\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=z\r\n\r\n"
        + b"--z\r\nContent-Type: message/delivery-status\r\n\r\n"
        + b"Final-Recipient: rfc822; a@b.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" * 5000,
        b"Content-Type: multipart/mixed; boundary=q\r\n\r\n"
        + b"--q\r\nContent-Type: text/plain\r\n\r\n" * 50_000,
        b"From: MAILER-DAEMON@x\r\nSubject: Undelivered\r\n\r\n" + b"550 5.1.1 <a@b.c> " * 200_000,
        b"From: MAILER-DAEMON@x\r\n\r\n" + b"<" * 1_000_000 + b"a" * 1_000_000,
        b"\xff\xfe\x00" * 100_000,
        b"",
    ],
    ids=[
        "nested-100",
        "nested-3000",
        "huge-header",
        "many-headers",
        "many-recipients",
        "many-parts",
        "many-codes",
        "angle-brackets",
        "binary",
        "empty",
    ],
)
def test_hostile_mail_is_bounded_and_never_raises(raw: bytes) -> None:
    started = time.monotonic()
    result = classify_mail(raw, to_unsubscribe=False)
    assert time.monotonic() - started < 5
    assert result.kind in set(MailKind)
    assert len(result.recipients) <= 50
    assert len(result.diagnostic) <= 500


def test_too_deep_nesting_is_ignored_with_a_reason() -> None:
    result = read_mail(_nested(3000))
    assert (result.kind, result.shape) == (MailKind.IGNORE, "unparseable")
    assert "RecursionError" in result.reason


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096), st.booleans())
def test_arbitrary_bytes_never_raise(raw: bytes, to_unsubscribe: bool) -> None:
    read_mail(raw, to_unsubscribe=to_unsubscribe)


_PIECES = st.sampled_from(
    [
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n",
        b"Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n",
        b"Content-Type: message/delivery-status\r\n",
        b"Content-Type: message/feedback-report\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: text/rfc822-headers\r\n",
        b"Content-Type: text/plain; charset=x-nope\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"\r\n",
        b"Final-Recipient: rfc822; a@b.example\r\n",
        b"Final-Recipient: \xff;\r\n",
        b"Original-Rcpt-To: <>\r\n",
        b"Action: failed\r\n",
        b"Status: 5.1.1\r\n",
        b"Status: 9.9.9999\r\n",
        b"Diagnostic-Code: smtp; 550 5.1.1 x\r\n",
        b"Feedback-Type: abuse\r\n",
        b"From: MAILER-DAEMON@x.example\r\n",
        b"X-Failed-Recipients: ,,,@,\r\n",
        b"Auto-Submitted: auto-replied\r\n",
        b"Subject: =?utf-8?b?////?=\r\n",
        b"------ This is a copy of the message, including all the headers. ------\r\n",
        b"X-Campaignd-Id: nonsense\r\n",
        b"Message-ID: <x@y>\r\n",
        b" folded continuation\r\n",
    ]
)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_PIECES, st.binary(max_size=40)), max_size=60), st.booleans())
def test_mail_shaped_garbage_never_raises(pieces: list[bytes], to_unsubscribe: bool) -> None:
    result = read_mail(b"".join(pieces), to_unsubscribe=to_unsubscribe)
    assert result.kind in set(MailKind)
