"""MIME building blocks: encoded words, folding, addresses, body encodings, header checks."""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import quopri

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignd.errors import HeaderInjection, TemplateError
from campaignd.rendering import mime


def parse_header(line: str) -> str:
    msg = email.message_from_bytes(line.encode() + b"\r\n", policy=email.policy.default)
    items = msg.items()
    assert len(items) == 1
    return str(items[0][1])


@pytest.mark.parametrize(
    "text",
    [
        "Plain ASCII subject",
        "Ünïcödé straße",
        "مرحبا بالعالم، هذه رسالة",
        "😀🎉👨‍👩‍👧‍👦 family",
        "中文" * 60,
        "a =?utf-8?q?looks_encoded?= b",
        "x" * 1200,
        "word " * 60,
    ],
)
def test_unstructured_round_trips_and_keeps_line_limits(text: str) -> None:
    line = mime.unstructured("Subject", text)
    assert line.endswith("\r\n")
    physical = line[:-2].split("\r\n")
    assert all(len(p) <= 78 for p in physical), physical
    assert all(p.startswith(" ") for p in physical[1:])
    assert parse_header(line[:-2]) == text


def test_encoded_words_never_split_a_character_and_stay_short() -> None:
    text = "é😀中" * 40
    words = mime.encoded_words(text, 60)
    decoded = ""
    for word in words:
        assert len(word) <= 75
        payload = word[len("=?utf-8?b?") : -2]
        decoded += base64.b64decode(payload).decode("utf-8")  # each word decodes alone
    assert decoded == text


def test_sanitize_replaces_every_control_and_line_break() -> None:
    assert mime.sanitize("a\r\nb\x00c\x1bd\x85e\u2028f\tg") == "a  b c d e f g"
    assert mime.sanitize("clean é") == "clean é"


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ("Ada Lovelace", "Ada Lovelace"),
        ('Smith, "Jo" \\ Co', 'Smith, "Jo" \\ Co'),
        ("José Ñandú", "José Ñandú"),
        ("", ""),
        ("Evil\r\nBcc: x@y.z", "Evil Bcc: x@y.z"),
    ],
)
def test_address_display_names(display: str, expected: str) -> None:
    line = mime.address("To", display, "ada@example.org")
    msg = email.message_from_bytes(line.encode() + b"\r\n", policy=email.policy.default)
    assert list(msg.keys()) == ["To"]
    (addr,) = msg["To"].addresses
    assert (addr.display_name, addr.addr_spec) == (expected, "ada@example.org")


def test_addresses_refuse_unusable_values() -> None:
    for bad in ("no-at-sign", "a b@c.d", "a@b.c\r\nBcc: x@y", "<a@b.c>", ""):
        with pytest.raises(TemplateError):
            mime.check_address(bad, "recipient")
    assert mime.check_address("user@bücher.de", "r") == "user@xn--bcher-kva.de"
    assert mime.check_address("üser@example.com", "r") == "üser@example.com"


def test_header_names_and_operator_values_are_checked() -> None:
    mime.check_header_name("X-Mailgun-Tag")
    for bad in ("X Bad", "X:Bad", "", "Ä", "X\r\nBcc"):
        with pytest.raises(HeaderInjection):
            mime.check_header_name(bad)
    mime.check_header_value("X-A", "value\twith tab é")
    for bad in ("a\r\nBcc: x", "a\nb", "a\x00b", "a\x1bb"):
        with pytest.raises(HeaderInjection, match="X-A"):
            mime.check_header_value("X-A", bad)


def test_fold_refuses_words_too_long_for_a_line() -> None:
    with pytest.raises(TemplateError, match="too long"):
        mime.fold("X-Json", "{" + "a" * 1200 + "}")


@pytest.mark.parametrize(
    "text",
    [
        "short ascii\nsecond line",
        "a" * 2000 + "\n" + "b = c \t\n",
        "Grüße aus Köln\r\nLine two\rLine three",
        "مرحبا " * 300,
        "emoji 😀 " * 200,
        "nul \x00 and esc \x1b",
    ],
)
def test_bodies_decode_to_the_text_with_crlf_and_short_lines(text: str) -> None:
    cte, data = mime.encode_body(text)
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    if cte == "quoted-printable":
        decoded = binascii.a2b_qp(data)
        assert all(len(line) <= 76 for line in lines)
    elif cte == "base64":
        decoded = base64.b64decode(data)
        assert all(len(line) <= 76 for line in lines)
    else:
        assert cte == "7bit"
        assert data.isascii()
        decoded = data
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert decoded.decode("utf-8").replace("\r\n", "\n") == expected + (
        "" if expected.endswith("\n") else "\n"
    )
    assert decoded.count(b"\r\n") == decoded.count(b"\n")


def test_mostly_ascii_bodies_stay_readable() -> None:
    assert mime.encode_body("plain english")[0] == "7bit"
    assert mime.encode_body("Café in the city, " * 20)[0] == "quoted-printable"
    assert mime.encode_body("مرحبا " * 100)[0] == "base64"


_BODY_CHARS = st.sampled_from(
    [*"ab .=\t\r\n\x00\x7f", "é", "€", "😀", "ש", "\u2028", "\ud800", "=?", " \n", ".\n", "x" * 70]
)


def _qp_decoded(data: bytes) -> str:
    """The body as the stdlib email parser reads it back."""
    head = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
    msg = email.message_from_bytes(head + b"\r\n\r\n" + data, policy=email.policy.default)
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload == quopri.decodestring(data) == binascii.a2b_qp(data)
    return payload.decode("utf-8")


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_BODY_CHARS, max_size=120).map("".join))
def test_quoted_printable_is_rfc_2045_and_decodes_back(text: str) -> None:
    expected = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8", "replace")
    expected += b"" if expected.endswith(b"\n") else b"\n"
    data = mime.quoted_printable(expected.replace(b"\n", b"\r\n"))
    assert data.endswith(b"\r\n")
    for line in data[:-2].split(b"\r\n"):
        assert len(line) <= 76
        assert not line.endswith((b" ", b"\t"))  # trailing whitespace is encoded
        assert line.isascii()
    assert _qp_decoded(data).replace("\r\n", "\n").encode() == expected.decode("utf-8").encode()
    # the same bytes as the C encoder wherever that one keeps the 76-character limit
    reference = binascii.b2a_qp(expected.replace(b"\n", b"\r\n"), istext=True)
    if all(len(line) <= 76 for line in reference.split(b"\r\n")):
        assert data == reference


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_BODY_CHARS, max_size=40).map("".join), min_size=1, max_size=6))
def test_body_encoder_gives_encode_body_bytes_with_and_without_its_memory(
    texts: list[str],
) -> None:
    encoder = mime.BodyEncoder(max_lines=3, max_chars=100)
    for text in [*texts, *reversed(texts)]:  # second time round, lines come from memory
        assert encoder.encode(text) == mime.encode_body(text)


def test_trailing_space_at_the_line_limit_stays_within_76() -> None:
    for text in ("a" * 74 + "é \n", "=" * 24 + "ab\t\n", "a" * 75 + " \n"):
        data = mime.quoted_printable(text.encode().replace(b"\n", b"\r\n"))
        assert max(len(line) for line in data.split(b"\r\n")) <= 76, data
        assert binascii.a2b_qp(data).decode() == text.replace("\n", "\r\n")


def _words_by_definition(text: str, first_room: int) -> list[str]:
    """Encoded words as first written: characters are added while their UTF-8 fits."""
    words: list[str] = []
    chunk: list[str] = []
    size, limit = 0, max(3, (first_room - 12) // 4 * 3)
    for ch in text:
        n = 1 if ch < "\x80" else 2 if ch < "\u0800" else 3 if ch < "\U00010000" else 4
        if size + n > limit and chunk:
            words.append(mime._word("".join(chunk)))
            chunk, size, limit = [], 0, 45
        chunk.append(ch)
        size += n
    if chunk or not words:
        words.append(mime._word("".join(chunk)))
    return words


@settings(max_examples=1000)
@given(st.text(alphabet=st.sampled_from([*"ab =?", "é", "€", "😀", "\ud800"]), max_size=80))
def test_encoded_words_split_between_characters_as_defined(text: str) -> None:
    for room in (10, 20, 45, 69, 200):
        assert mime.encoded_words(text, room) == _words_by_definition(text, room)


@settings(max_examples=1000)
@given(st.lists(st.sampled_from([*"ab.= \t", "é", "x" * 74]), max_size=40).map("".join))
def test_body_encoder_lines_are_encode_body_lines(line: str) -> None:
    text = "é" + "p" * 40 + "\n" + line  # mostly ASCII: quoted-printable
    assert mime.BodyEncoder().encode(text) == mime.encode_body(text)
    assert mime.BodyEncoder().encode(line) == mime.encode_body(line)
