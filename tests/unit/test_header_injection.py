"""Property tests: no subscriber data or campaign header value can add a header or a body."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import uuid
from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignd.config import AppSettings
from campaignd.domain import Campaign, CampaignStatus, ContentType, Recipient
from campaignd.errors import HeaderInjection, TemplateError
from campaignd.rendering.compose import CampaignMailer

NOW = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
APP = AppSettings(root_url="https://news.example.com", unsubscribe_mailto="leave@example.com")
HEADERS = [
    "Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "List-Unsubscribe",
    "List-Unsubscribe-Post", "X-Campaignd-Id", "X-Note", "X-Static", "Content-Type",
]  # fmt: skip

#: Text full of what an attacker would try: line breaks, NUL, header-like and MIME-like text.
hostile = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "\r",
                "\n",
                "\r\n",
                "\x00",
                "\x0b",
                "\x0c",
                "\x1b",
                "\x7f",
                "\x85",
                "\u2028",
                ":",
                " ",
                "\t",
                "Bcc: victim@example.com",
                "Content-Type: text/html",
                "--",
                "=?",
                "?=",
                "\r\n\r\n",
                "<",
                ">",
                '"',
                "'",
                "é",
                "😀",
                "ש",
                "\ud800",
            ]
        ),
        st.characters(codec="utf-8"),
    ),
    max_size=40,
).map("".join)


FORBIDDEN = {*range(32), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0xD800, 0xE000)} - {9}


def campaign(headers: tuple[tuple[str, str], ...]) -> Campaign:
    return Campaign(
        id=1,
        uuid=uuid.UUID(int=5),
        name="Weekly",
        subject="Hi {{ subscriber.name }} {{ subscriber.attributes.a }}",
        from_email="News <news@acme.example>",
        body="<p>{{ subscriber.name }}</p><p>{{ subscriber.attributes.a }}</p>",
        alt_body=None,
        content_type=ContentType.HTML,
        template_id=None,
        messenger="email",
        headers=headers,
        tags=(),
        status=CampaignStatus.RUNNING,
        send_at=None,
        list_ids=(1,),
        created_at=NOW,
        updated_at=NOW,
    )


MAILER = CampaignMailer.prepare(
    campaign(
        (("X-Note", "{{ subscriber.attributes.a }}|{{ subscriber.name }}"), ("X-Static", "s"))
    ),
    None,
    APP,
    "a-signing-secret-of-some-length",
)


def check_shape(data: bytes, headers: list[str] = HEADERS) -> EmailMessage:
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert [k for k, _ in msg.items()] == headers
    assert len(msg["To"].addresses) == 1
    assert msg["To"].addresses[0].addr_spec == "ada@example.org"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert [k for k, _ in part.items()] == ["Content-Type", "Content-Transfer-Encoding"]
    return msg


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=hostile, attribute=hostile)
def test_subscriber_data_never_adds_a_header_or_body(name: str, attribute: str) -> None:
    r = Recipient(1, 1, 1, uuid.UUID(int=9), "ada@example.org", name, {"a": attribute}, 0)
    _, data = MAILER.build(r, NOW)
    msg = check_shape(data)
    assert "victim" not in str(msg["To"].addresses[0].addr_spec)


@settings(max_examples=150, deadline=None)
@given(
    value=hostile,
    name=st.sampled_from(
        ["X-Note", "X-Other", "Bcc", "content-type", "X\r\nBcc", "X Y", "X:Y", "", "Ä", "To"]
    ),
)
def test_campaign_header_values_are_refused_or_stay_one_header(value: str, name: str) -> None:
    valid_name = name in ("X-Note", "X-Other")
    clean_value = not any(ord(ch) in FORBIDDEN for ch in value)
    try:
        mailer = CampaignMailer.prepare(
            campaign(((name, value), ("X-Static", "s"))), None, APP, "s" * 20
        )
    except HeaderInjection as exc:
        assert name in str(exc) or repr(name) in str(exc)  # noqa: PT017
        assert not (valid_name and clean_value)
        return
    except TemplateError:
        assert "{" in value  # only a value that is a broken template fails this way
        return
    assert valid_name and clean_value
    r = Recipient(1, 1, 1, uuid.UUID(int=9), "ada@example.org", "Ada", {"a": "x"}, 0)
    expected = [name if h == "X-Note" else h for h in HEADERS]
    check_shape(mailer.build(r, NOW)[1], expected)
