"""Server email_headers: checked when built, added under the message's own headers."""

from __future__ import annotations

import pytest

from campaignd.config import Header, Settings, SmtpSettings
from campaignd.errors import ConfigError
from campaignd.messengers.headers import build_headers, merge_headers
from campaignd.messengers.registry import build_messengers

MESSAGE = b"From: a@example.org\r\nSubject: hi\r\nX-PM-Tag: mine\r\n\r\nbody: not a header\r\n"


def headers(**pairs: str) -> tuple[Header, ...]:
    return tuple(Header(name=k.replace("_", "-"), value=v) for k, v in pairs.items())


def test_missing_headers_are_prepended() -> None:
    built = build_headers(headers(X_PM_Message_Stream="broadcast"), "smtp[0].email_headers")
    merged = merge_headers(MESSAGE, built)
    assert merged == b"X-PM-Message-Stream: broadcast\r\n" + MESSAGE


def test_the_message_wins_case_insensitively() -> None:
    built = build_headers(headers(x_pm_tag="server", SUBJECT="server"), "k")
    assert merge_headers(MESSAGE, built) == MESSAGE


def test_a_name_in_the_body_does_not_count() -> None:
    built = build_headers(headers(body="x"), "k")
    assert merge_headers(MESSAGE, built).startswith(b"body: x\r\n")


def test_no_headers_returns_the_same_bytes() -> None:
    assert merge_headers(MESSAGE, build_headers((), "k")) is MESSAGE


def test_non_ascii_values_are_encoded() -> None:
    built = build_headers(headers(X_Tag="Ünïcode"), "k")
    assert built.lines[0].startswith(b"X-Tag: =?utf-8?")
    assert built.lines[0].isascii()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Bad", "value\r\nBcc: victim@example.org"),
        ("X-Bad", "value\nmore"),
        ("X-Bad", "nul\0"),
        ("X-Bad", "bell\x07"),
        ("X Bad", "v"),
        ("X-Bad:", "v"),
        ("X-Bad\r\nBcc", "v"),
        ("", "v"),
        ("X-Long", "x" * 1000),
    ],
)
def test_bad_headers_are_refused_naming_the_key(name: str, value: str) -> None:
    # Settings refuse these when loaded (test_config); build_headers checks again regardless.
    with pytest.raises(ConfigError) as info:
        build_headers((Header.model_construct(name=name, value=value),), "smtp[1].email_headers")
    assert info.value.key == "smtp[1].email_headers"


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ConfigError):
        build_headers(headers(X_A="1") + headers(x_a="2"), "k")


def test_build_messengers_checks_headers_with_the_server_index() -> None:
    settings = Settings(
        smtp=(
            SmtpSettings(host="a"),
            SmtpSettings(
                host="b",
                email_headers=(Header.model_construct(name="X-Evil", value="a\r\nBcc: x@x.org"),),
            ),
        )
    )
    with pytest.raises(ConfigError) as info:
        build_messengers(settings)
    assert info.value.key == "smtp[1].email_headers"
