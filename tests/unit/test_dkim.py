"""DKIM signing (campaignd.rendering.dkim) checked by an independent verifier, dkimpy, fed the
TXT record campaignd says to publish (no DNS), plus key loading and the local check."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from dkim.canonicalization import Relaxed
from hypothesis import given
from hypothesis import strategies as st

from campaignd.config import AppSettings
from campaignd.domain import Campaign, CampaignStatus, ContentType, Recipient, Template
from campaignd.errors import DkimKeyError, InvalidInput
from campaignd.rendering.compose import CampaignMailer
from campaignd.rendering.dkim import (
    DEFAULT_HEADERS,
    CampaignSigner,
    DkimKey,
    DkimSigner,
)
from campaignd.rendering.dkim_canon import relaxed_body, relaxed_header
from campaignd.rendering.dkim_check import sample_message, signature_problem

NOW = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC)

# A 512-bit RSA key (openssl genpkey, rsa_keygen_bits:512): too weak to sign with.
WEAK_RSA_PEM = b"""-----BEGIN PRIVATE KEY-----
MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAp3roJRXcc2YJh5uf
Fr2PpIV09g2Nyyhm7DuQ5GOqHCSUo2pitlwCxJa67X2Z6J1MHtVDfFF4QoaZzVJs
C/r8sQIDAQABAkEAjXmsmo9B/xVl3XDfTbVpnt/Bsow2iDQj5VBYECYEr+n07iUs
1MttvgWFKv69/6p1OOEgZWlB0kClQkcCBC+bdQIhANG7I254DJ4vk5E2q1fR/l+9
fZhjN1ywEStDVdCBiT57AiEAzG2WapTPIQ/oiTS74bfg0ZJ9zFWS/Ni6/b3MsxdG
n8MCIFSQqVusiiHqOw0NRw80++UsqYydTMBRucqA7wQQhv8rAiBwxW95wjd1HKqB
rhaLEP2zfqVo6DgaxZB5048tqIRsMwIhAMcGavkxbAPonHYq+w0LbRk5T836coa8
X8LJMAlxcsYo
-----END PRIVATE KEY-----
"""


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    return pem(rsa.generate_private_key(65537, 2048))


@pytest.fixture(scope="module")
def ed_pem() -> bytes:
    return pem(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(params=["rsa", "ed25519"])
def key(request: pytest.FixtureRequest, rsa_pem: bytes, ed_pem: bytes) -> DkimKey:
    source = rsa_pem if request.param == "rsa" else ed_pem
    return DkimKey.load("example.com", "s2026", source)


@pytest.fixture
def signer(key: DkimKey) -> CampaignSigner:
    found = DkimSigner([key]).for_campaign("example.com")
    assert found is not None
    return found


def dkimpy_verifies(message: bytes, key: DkimKey) -> bool:
    """dkimpy's verdict, its DNS lookup answered with the record campaignd prints."""
    asked: list[bytes] = []

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        asked.append(name)
        return key.txt_value().encode("ascii")

    ok = bool(dkim.verify(message, dnsfunc=dnsfunc))
    assert asked == [f"{key.record_name}.".encode()]
    return ok


def signed_names(message: bytes) -> list[str]:
    head = message.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    sig = head.split("\r\nDate:", 1)[0].replace("\r\n", "").replace("\t", "").replace(" ", "")
    h = next(part for part in sig.split(";") if part.startswith("h="))
    return h[2:].split(":")


def message(subject: str = "Hello", body: str = "Hi there.\r\n", **extra: str) -> bytes:
    headers = {
        "Date": "Wed, 06 May 2026 07:08:09 +0000",
        "From": "ACME News <news@example.com>",
        "To": "Ada <ada@example.org>",
        "Subject": subject,
        "Message-ID": "<abc.def@example.com>",
        "MIME-Version": "1.0",
        "List-Unsubscribe": "<https://example.com/unsubscribe/tok>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-Campaignd-Id": "1.2",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "8bit",
        **extra,
    }
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (lines + "\r\n" + body).encode("utf-8")


def test_plain_message_verifies_and_signs_the_bulk_sender_headers(
    signer: CampaignSigner, key: DkimKey
) -> None:
    signed = signer.sign(message())
    assert signed.startswith(b"DKIM-Signature: v=1; a=" + key.algorithm.encode())
    assert signed.endswith(message())
    assert dkimpy_verifies(signed, key)
    assert signature_problem(signed, key.txt_value()) is None
    names = signed_names(signed)
    assert names[:2] == ["from", "from"]  # oversigned: no From can be added
    for name in ("to", "subject", "date", "message-id", "mime-version", "content-type"):
        assert name in names
    assert "list-unsubscribe" in names
    assert "list-unsubscribe-post" in names
    assert "x-campaignd-id" not in names
    assert max(len(line) for line in signed.split(b"\r\n")) <= 78


def test_optional_headers_are_signed_when_present(signer: CampaignSigner, key: DkimKey) -> None:
    signed = signer.sign(message(**{"Reply-To": "<desk@example.com>", "Feedback-ID": "7:1:acme"}))
    assert dkimpy_verifies(signed, key)
    assert {"reply-to", "feedback-id"} <= set(signed_names(signed))


def test_non_ascii_headers_and_8bit_body(signer: CampaignSigner, key: DkimKey) -> None:
    subject = "=?utf-8?b?" + base64.b64encode("Été à Zürich ✓".encode()).decode() + "?="
    body = "Grüße aus Köln,\r\n日本語のテキスト\r\nnaïve café\r\n"
    signed = signer.sign(message(subject=subject, body=body, To="=?utf-8?q?Ad=C3=A0?= <a@b.org>"))
    assert body.encode() in signed
    assert dkimpy_verifies(signed, key)


def test_long_folded_headers_and_irregular_whitespace(signer: CampaignSigner, key: DkimKey) -> None:
    subject = "A very long subject line " + "that goes on " * 8 + "\r\n\tand\t is folded  \r\n here"
    to = ",\r\n ".join(f"Person {i} <p{i}@example.org>" for i in range(12))
    body = "tabs\tand  double  spaces \r\ntrailing spaces   \r\n\r\n\r\n \r\n"
    signed = signer.sign(message(subject=subject, body=body, To=to))
    assert dkimpy_verifies(signed, key)
    assert signature_problem(signed, key.txt_value()) is None


def test_crlf_dot_leading_lines_and_bare_line_ends(signer: CampaignSigner, key: DkimKey) -> None:
    body = ".leading dot\r\n..two dots\r\n.\r\nmiddle\r\n. \r\nend"
    signed = signer.sign(message(body=body))
    assert dkimpy_verifies(signed, key)
    bare = message(body=body).replace(b"\r\n", b"\n").replace(b"middle\n", b"middle\r")
    signed_bare = signer.sign(bare)
    assert b"\n" not in signed_bare.replace(b"\r\n", b"")  # sent as CRLF, signed as sent
    assert b"\r" not in signed_bare.replace(b"\r\n", b"")
    assert dkimpy_verifies(signed_bare, key)


def test_empty_body_and_no_body(signer: CampaignSigner, key: DkimKey) -> None:
    assert dkimpy_verifies(signer.sign(message(body="")), key)
    assert dkimpy_verifies(signer.sign(message(body="\r\n\r\n")), key)


TAMPERS: dict[str, Callable[[bytes], bytes]] = {
    "body": lambda m: m.replace(b"Hi there.", b"Hi there!"),
    "subject": lambda m: m.replace(b"Subject: Hello", b"Subject: Hellp"),
    "one-click": lambda m: m.replace(b"List-Unsubscribe=One-Click", b"List-Unsubscribe=Two-Click"),
    "unsubscribe url": lambda m: m.replace(b"/unsubscribe/tok", b"/unsubscribe/tak"),
    "added from": lambda m: m.replace(b"\r\n\r\n", b"\r\nFrom: Evil <ceo@example.com>\r\n\r\n", 1),
    "prepended from": lambda m: b"From: Evil <ceo@example.com>\r\n" + m,
    "appended body line": lambda m: m + b"more\r\n",
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampering_fails_verification(signer: CampaignSigner, key: DkimKey, tamper: str) -> None:
    signed = signer.sign(message())
    changed = TAMPERS[tamper](signed)
    assert changed != signed
    assert not dkimpy_verifies(changed, key)
    assert signature_problem(changed, key.txt_value()) is not None


def test_headers_added_after_signing_do_not_break_it(signer: CampaignSigner, key: DkimKey) -> None:
    signed = signer.sign(message())
    relayed = b"Received: from a by b; Wed, 06 May 2026 07:08:10 +0000\r\n" + signed.replace(
        b"\r\n\r\n", b"\r\nX-Mailgun-Tag: weekly\r\n\r\n", 1
    )
    assert dkimpy_verifies(relayed, key)


def test_composed_campaign_message_verifies(signer: CampaignSigner, key: DkimKey) -> None:
    campaign = Campaign(
        id=7,
        uuid=uuid.UUID("0f0e0d0c-0b0a-0908-0706-050403020100"),
        name="Weekly",
        subject="Grüße, {{ subscriber.first_name }} — " + "a long subject " * 6,
        from_email="ACME Nëws <news@example.com>",
        body="<h1>Hi {{ subscriber.name }}</h1><p>Ünïcode and . dots</p>\n.\n"
        '<p><a href="{{ unsubscribe_url() }}">Unsubscribe</a></p>',
        alt_body=None,
        content_type=ContentType.HTML,
        template_id=1,
        messenger="email",
        headers=(("Reply-To", "desk@example.com"),),
        tags=(),
        status=CampaignStatus.RUNNING,
        send_at=None,
        list_ids=(1,),
        created_at=NOW,
        updated_at=NOW,
    )
    app = AppSettings(root_url="https://news.example.com", unsubscribe_mailto="leave@example.com")
    layout = Template(1, "layout", "<html><body>{{ content }}</body></html>", NOW)
    mailer = CampaignMailer.prepare(campaign, layout, app, "a-signing-secret-of-some-length")
    recipient = Recipient(1, 7, 3, uuid.uuid4(), "zoë@example.org", "Zoë Ünger", {}, 0)
    _, built = mailer.build(recipient, NOW)
    signed = signer.sign(built)
    assert dkimpy_verifies(signed, key)
    assert {"reply-to", "list-unsubscribe-post"} <= set(signed_names(signed))


def test_our_check_verifies_dkimpy_signatures(rsa_pem: bytes) -> None:
    """The local check (dkim check) agrees with dkimpy in the other direction too."""
    key = DkimKey.load("example.com", "s2026", rsa_pem)
    plain = message(subject="Hello  \r\n  folded", body="a  b \r\n\r\n")
    header = dkim.sign(
        plain, b"s2026", b"example.com", rsa_pem, canonicalize=(b"relaxed", b"relaxed")
    )
    assert signature_problem(header + plain, key.txt_value()) is None
    assert signature_problem(header + plain + b"x", key.txt_value()) is not None


def test_sample_message_signs_and_verifies(signer: CampaignSigner, key: DkimKey) -> None:
    signed = signer.sign(sample_message("example.com", NOW))
    assert dkimpy_verifies(signed, key)
    assert signature_problem(signed, key.txt_value()) is None
    other = DkimKey.load("example.com", "s2026", pem(ed25519.Ed25519PrivateKey.generate()))
    assert signature_problem(signed, other.txt_value()) is not None


CRLF_TEXT = st.lists(st.sampled_from(["a", "é", " ", "  ", "\t", "\r\n", ".", "\r\n "])).map(
    "".join
)


@given(CRLF_TEXT)
def test_relaxed_body_matches_dkimpy(text: str) -> None:
    """As the receiver sees it: SMTP ends every message with CRLF (wire_payload adds one), so
    a last line without it counts as a line (" " is empty, not a space)."""
    body = text.encode()
    sent = body if not body or body.endswith(b"\r\n") else body + b"\r\n"
    assert relaxed_body(body) == Relaxed.canonicalize_body(sent)


@given(CRLF_TEXT)
def test_relaxed_header_matches_dkimpy(text: str) -> None:
    value = text.lstrip("\r\n").encode()  # a field's value: folded lines start with WSP
    if b"\r\n" in value and not all(line[:1] in (b" ", b"\t") for line in value.split(b"\r\n")[1:]):
        value = value.replace(b"\r\n", b"\r\n ")
    [(name, expected)] = Relaxed.canonicalize_headers([(b"Subject", value + b"\r\n")])
    assert relaxed_header(b"subject", b"Subject:" + value) == name + b":" + expected


# -- keys, records, choosing a key ---------------------------------------------------------


def test_dns_record_rsa_is_split_in_255_character_strings(rsa_pem: bytes) -> None:
    key = DkimKey.load("Example.COM", "s2026", rsa_pem)
    assert key.domain == "example.com"
    record = key.dns_record()
    assert record.startswith('s2026._domainkey.example.com. IN TXT "v=DKIM1; k=rsa; p=MIIB')
    strings = re.findall(r'"([^"]*)"', record.split(" IN TXT ", 1)[1])
    assert len(strings) == 2
    assert len(strings[0]) == 255
    assert "".join(strings) == key.txt_value()
    assert record == "s2026._domainkey.example.com. IN TXT " + " ".join(f'"{s}"' for s in strings)


def test_dns_record_ed25519(ed_pem: bytes) -> None:
    key = DkimKey.load("example.com", "ed", ed_pem)
    assert key.algorithm == "ed25519-sha256"
    value = key.txt_value()
    assert value.startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(value.rpartition("p=")[2])) == 32
    assert key.dns_record() == f'ed._domainkey.example.com. IN TXT "{value}"'


def test_key_file_is_read(tmp_path: Path, ed_pem: bytes) -> None:
    path = tmp_path / "dkim.pem"
    path.write_bytes(ed_pem)
    assert DkimKey.load("example.com", "s", path).source == str(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read"),
        (b"not a key at all", "not a PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a valid PEM"),
        (WEAK_RSA_PEM, "RSA with 512 bits is refused"),
        ("ec", "an EC key; DKIM signs with RSA"),
        ("encrypted", "is encrypted"),
    ],
)
def test_bad_key_files_are_refused_naming_the_file(
    tmp_path: Path, content: bytes | str | None, problem: str
) -> None:
    path = tmp_path / "dkim.pem"
    if content == "ec":
        content = pem(ec.generate_private_key(ec.SECP256R1()))
    elif content == "encrypted":
        content = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    if isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(DkimKeyError) as info:
        DkimKey.load("example.com", "s", path)
    assert str(path) in str(info.value)
    assert problem in str(info.value)
    assert isinstance(info.value, InvalidInput)


def test_rsa_1024_is_accepted_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        key = DkimKey.load("example.com", "s", pem(rsa.generate_private_key(65537, 1024)))  # noqa: S505
    assert key.algorithm == "rsa-sha256"
    assert "RSA with 1024 bits" in caplog.text
    assert "BEGIN" not in caplog.text


@pytest.mark.parametrize("selector", ["", "s1; x=y", "s 1", "s\r\nX-Evil: 1", "-s", "a" * 64])
def test_selector_must_be_dns_labels(ed_pem: bytes, selector: str) -> None:
    with pytest.raises(DkimKeyError, match="selector"):
        DkimKey.load("example.com", selector, ed_pem)


@pytest.mark.parametrize("domain", ["", "exa mple.com", "example.com; s=x", "ex\r\nample.com"])
def test_domain_must_be_a_domain_name(ed_pem: bytes, domain: str) -> None:
    with pytest.raises(DkimKeyError, match="domain"):
        DkimKey.load(domain, "s", ed_pem)


def test_for_campaign_picks_the_from_domains_key(ed_pem: bytes, rsa_pem: bytes) -> None:
    a = DkimKey.load("example.com", "a", ed_pem)
    b = DkimKey.load("bücher.example", "b", rsa_pem)
    keys = DkimSigner([a, b])
    found = keys.for_campaign("EXAMPLE.com")
    assert found is not None
    assert found.key is a
    idn = keys.for_campaign("xn--bcher-kva.example")
    assert idn is not None
    assert idn.key is b
    assert keys.for_campaign("BÜCHER.example") is not None
    assert keys.for_campaign("news.example.com") is None  # exact domains only
    assert keys.for_campaign("not a domain") is None
    assert DkimSigner([]).for_campaign("example.com") is None


def test_two_keys_for_one_domain_are_refused(ed_pem: bytes) -> None:
    with pytest.raises(DkimKeyError, match=r"example\.com has two keys"):
        DkimSigner(
            [DkimKey.load("example.com", "a", ed_pem), DkimKey.load("Example.com", "b", ed_pem)]
        )


def test_signed_headers_must_be_names_and_include_from(key: DkimKey) -> None:
    with pytest.raises(InvalidInput, match="From"):
        CampaignSigner(key, ("To", "Subject"))
    with pytest.raises(InvalidInput, match="not a header name"):
        CampaignSigner(key, ("From", "Bad Name"))
    assert DEFAULT_HEADERS.count("From") == 2
