"""Fast message assembly, read back by the standard library's parser (policy=default)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import pytest

from campaignd.config import AppSettings
from campaignd.domain import Campaign, CampaignStatus, ContentType, NewCampaign, Recipient, Template
from campaignd.errors import HeaderInjection, InvalidInput, TemplateError
from campaignd.rendering.compose import CampaignMailer, check_campaign, sample_recipient
from campaignd.rendering.tokens import verify

NOW = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
SECRET = "a-signing-secret-of-some-length"
APP = AppSettings(root_url="https://news.example.com", unsubscribe_mailto="leave@example.com")
LAYOUT = Template(
    1,
    "layout",
    "<html><body><div>{{ content }}</div><p>ACME · {{ date('%Y') }}</p></body></html>",
    NOW,
)


def campaign(**overrides: Any) -> Campaign:
    values: dict[str, Any] = {
        "id": 7,
        "uuid": uuid.UUID("0f0e0d0c-0b0a-0908-0706-050403020100"),
        "name": "Weekly",
        "subject": "Hello {{ subscriber.first_name }}",
        "from_email": "ACME News <news@acme.example>",
        "body": "<h1>Hi {{ subscriber.name }}</h1><p>{{ subscriber.attributes.note }}</p>"
        '<p><a href="{{ unsubscribe_url() }}">Unsubscribe</a></p>',
        "alt_body": None,
        "content_type": ContentType.HTML,
        "template_id": 1,
        "messenger": "email",
        "headers": (("X-Mailgun-Tag", "weekly-{{ campaign.name|lower }}"),),
        "tags": ("news",),
        "status": CampaignStatus.RUNNING,
        "send_at": None,
        "list_ids": (1,),
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return Campaign(**values)


def recipient(
    name: str = "Ada Lovelace", email_: str = "ada@example.org", **attributes: Any
) -> Recipient:
    attrs: Mapping[str, Any] = {"note": "welcome", **attributes}
    return Recipient(1, 7, 3, uuid.uuid4(), email_, name, attrs, 0)


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert not msg.defects
    return msg


def build(c: Campaign | None = None, r: Recipient | None = None, app: AppSettings = APP) -> bytes:
    mailer = CampaignMailer.prepare(c or campaign(), LAYOUT, app, SECRET)
    return mailer.build(r or recipient(), NOW)[1]


def test_message_structure_and_headers() -> None:
    r = recipient()
    mailer = CampaignMailer.prepare(campaign(), LAYOUT, APP, SECRET)
    message_id, data = mailer.build(r, NOW)
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    msg = parse(data)
    assert [k for k, _ in msg.items()] == [
        "Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "List-Unsubscribe",
        "List-Unsubscribe-Post", "X-Campaignd-Id", "X-Mailgun-Tag", "Content-Type",
    ]  # fmt: skip
    assert msg["From"].addresses[0].display_name == "ACME News"
    assert msg["To"].addresses[0].addr_spec == "ada@example.org"
    assert msg["Subject"] == "Hello Ada"
    assert msg["Message-ID"] == message_id
    assert message_id.endswith("@acme.example>")
    assert msg["Date"].datetime == NOW
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["X-Campaignd-Id"] == f"{campaign().uuid}.{r.uuid}"
    assert msg["X-Mailgun-Tag"] == "weekly-weekly"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert "Hi Ada Lovelace" in plain.get_content()
    assert "<h1>Hi Ada Lovelace</h1>" in html.get_content()
    assert mailer.envelope_from == "news@acme.example"


def test_list_unsubscribe_is_https_first_with_a_valid_token_then_mailto() -> None:
    r = recipient()
    msg = parse(build(r=r))
    value = str(msg["List-Unsubscribe"])
    https, mailto = [part.strip() for part in value.split(",")]
    assert https.startswith("<https://news.example.com/unsubscribe/") and https.endswith(">")
    token = https[len("<https://news.example.com/unsubscribe/") : -1]
    data = verify(SECRET, "unsub", token)
    assert (data.subscriber_uuid, data.campaign_uuid) == (r.uuid, campaign().uuid)
    assert mailto == "<mailto:leave@example.com?subject=unsubscribe>"
    assert https[1:-1] in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    no_mailto = parse(build(app=AppSettings(root_url="https://n.example.com")))
    assert "mailto" not in str(no_mailto["List-Unsubscribe"])


def test_message_id_is_stable_for_a_ledger_row_and_unique_per_subscriber() -> None:
    mailer = CampaignMailer.prepare(campaign(), LAYOUT, APP, SECRET)
    a, b = recipient(), recipient()
    first = mailer.build(a, NOW)[0]
    again = mailer.build(a, NOW + dt.timedelta(hours=1))[0]
    assert first == again == mailer.message_id(a)
    assert mailer.message_id(b) != first
    other = CampaignMailer.prepare(
        campaign(), LAYOUT, AppSettings(message_id_domain="mid.example.net"), SECRET
    )
    assert other.message_id(a).endswith("@mid.example.net>")


def test_plain_campaign_is_a_single_text_part() -> None:
    c = campaign(content_type=ContentType.PLAIN, body="Hi {{ subscriber.name }} <b>not html</b>")
    msg = parse(build(c))
    assert msg.get_content_type() == "text/plain"
    assert not msg.is_multipart()
    assert msg.get_content().rstrip("\r\n") == "Hi Ada Lovelace <b>not html</b>"


def test_alt_body_is_used_as_the_text_part() -> None:
    msg = parse(build(campaign(alt_body="Text for {{ subscriber.first_name }}")))
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.rstrip("\r\n") == "Text for Ada"


def test_markdown_campaign() -> None:
    c = campaign(content_type=ContentType.MARKDOWN, body="# Hi {{ subscriber.name }}\n\n*bold*")
    msg = parse(build(c))
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<h1>Hi Ada Lovelace</h1>" in html
    assert "<em>bold</em>" in html


TRICKY = [
    ("José Ñandú-Pérez", "Ünïcode note"),
    ("محمد عبد الله", "مرحبا بكم في النشرة"),
    ("דוד כהן", "שלום"),
    ("😀 Emoji 👨‍👩‍👧‍👦 Person", "🎉" * 50),
    ('O\'Brien "The Boss", Jr.', 'he said "hi" & <left>'),
    ("Evil\r\nBcc: victim@example.com", "Bcc: x@y\r\nX-Injected: yes"),
    ("Line\nBreak", "\r\n\r\n--boundary\r\nContent-Type: text/html\r\n\r\n<script>"),
    ("=?utf-8?b?RXZpbA==?=", "=?utf-8?q?x?="),
    ("x" * 300, "word " * 400 + "y" * 1500),
    ("Nul\x00Byte Esc\x1b", "\x00\x1b\x7f"),
]


@pytest.mark.parametrize(("name", "note"), TRICKY)
def test_tricky_data_reads_back_exactly(name: str, note: str) -> None:
    c = campaign(
        subject="Hi {{ subscriber.name }} – {{ subscriber.attributes.note }}",
        headers=(
            ("X-Note", "{{ subscriber.attributes.note }}"),
            ("Reply-To", "Équipe {{ campaign.name }} <r@acme.example>"),
        ),
    )
    r = recipient(name=name, note=note)
    data = build(c, r)
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    msg = parse(data)
    clean_name = " ".join(name.replace("\x00", " ").replace("\x1b", " ").split())
    assert [k for k, _ in msg.items()] == [
        "Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "List-Unsubscribe",
        "List-Unsubscribe-Post", "X-Campaignd-Id", "X-Note", "Reply-To", "Content-Type",
    ]  # fmt: skip
    to = msg["To"].addresses
    assert len(to) == 1
    assert to[0].addr_spec == "ada@example.org"
    # Python's parser puts a space between adjacent encoded words in a display name, where
    # RFC 2047 (and mail clients) join them: exact for names that fit one encoded word.
    assert to[0].display_name.replace(" ", "") == clean_name.replace(" ", "")
    if len(clean_name.encode()) <= 40:
        assert to[0].display_name == clean_name
    assert " ".join(str(msg["Subject"]).split()) == " ".join(
        f"Hi {name} – {note}".translate({0: " ", 0x1B: " ", 0x7F: " ", 10: " ", 13: " "}).split()
    )
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    html = parts[1].get_content()
    escaped_note = note.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped_note = escaped_note.replace('"', "&#34;").replace("'", "&#39;")
    escaped_note = escaped_note.replace("\r\n", "\n").replace("\r", "\n")
    assert f"<p>{escaped_note}</p>" in html.replace("\r\n", "\n")
    assert " ".join(str(msg["X-Note"]).split()) == " ".join(mime_clean(note).split())
    (reply_to,) = msg["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == ("Équipe Weekly", "r@acme.example")
    text = parts[0].get_content()
    assert " ".join(note.split()).replace("\x00", "") in " ".join(text.replace("\x00", "").split())


def mime_clean(text: str) -> str:
    return "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)


def test_build_refuses_an_address_that_cannot_go_in_a_header() -> None:
    mailer = CampaignMailer.prepare(campaign(), LAYOUT, APP, SECRET)
    with pytest.raises(TemplateError, match="recipient address"):
        mailer.build(recipient(email_="a@b.c\r\nBcc: x@y.z"), NOW)


def test_a_failing_attribute_fails_only_that_recipient() -> None:
    app = APP.model_copy(update={"missing_attributes": "fail"})
    mailer = CampaignMailer.prepare(campaign(), LAYOUT, app, SECRET)
    bad = Recipient(1, 7, 3, uuid.uuid4(), "b@example.org", "B", {}, 0)
    with pytest.raises(TemplateError, match=r"body: line 1: .*note"):
        mailer.build(bad, NOW)
    assert mailer.build(recipient(), NOW)[1]


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ((("From", "x@y.z"),), "From"),
        ((("content-type", "text/plain"),), "content-type"),
        ((("List-Unsubscribe", "<x>"),), "List-Unsubscribe"),
        ((("Bcc", "x@y.z"),), "Bcc"),
        ((("X-A", "a\r\nBcc: x@y.z"),), "X-A"),
        ((("X-A", "a\nb"),), "X-A"),
        ((("X-A", "a\x00b"),), "X-A"),
        ((("X A", "b"),), "X A"),
        ((("X-A:", "b"),), "X-A:"),
    ],
)
def test_bad_campaign_headers_are_refused_naming_the_header(
    headers: tuple[tuple[str, str], ...], match: str
) -> None:
    with pytest.raises(HeaderInjection, match=match):
        CampaignMailer.prepare(campaign(headers=headers), LAYOUT, APP, SECRET)
    new = NewCampaign("n", "s", "a@b.example", "<p>x</p>", ("l",), headers=headers)
    with pytest.raises(HeaderInjection, match=match):
        check_campaign(new, None, APP)


def test_check_campaign_reports_field_line_and_reason() -> None:
    ok = NewCampaign(
        "n",
        "Hi {{ subscriber.attributes.first }}",
        "News <n@x.example>",
        "<p>{{ subscriber.attributes.anything.nested }}</p>",
        ("l",),
    )
    check_campaign(ok, LAYOUT.body, APP)
    with pytest.raises(TemplateError, match=r"body: line 2: .*nmae"):
        check_campaign(
            NewCampaign("n", "s", "n@x.example", "<p>\n{{ subscriber.nmae }}</p>", ("l",)),
            None,
            APP,
        )
    with pytest.raises(TemplateError, match=r"subject: line 1"):
        check_campaign(NewCampaign("n", "{{ x", "n@x.example", "b", ("l",)), None, APP)
    with pytest.raises(InvalidInput, match="from_email"):
        check_campaign(NewCampaign("n", "s", "not an address", "b", ("l",)), None, APP)
    with pytest.raises(TemplateError, match="template: line 1"):
        check_campaign(ok, "{{ content }}{% if %}", APP)


def test_sample_recipient_builds_a_preview_for_any_template() -> None:
    r = sample_recipient("someone@example.net", campaign_id=7)
    assert (r.email, r.campaign_id) == ("someone@example.net", 7)
    assert sample_recipient("someone@example.net").uuid == r.uuid
    c = campaign(body="<p>{{ subscriber.attributes.city }} {{ subscriber.attributes.x.y }}</p>")
    msg = parse(CampaignMailer.prepare(c, None, APP, SECRET).build(r, NOW)[1])
    assert msg["To"].addresses[0].addr_spec == "someone@example.net"


def _body_of(data: bytes) -> str:
    part = parse(data).get_body(("html", "plain"))
    assert part is not None
    return str(part.get_content())


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [({"city": "Oslo"}, "in Oslo."), ({}, "somewhere.")],
)
def test_missing_attribute_is_false_in_conditions(
    attributes: dict[str, str], expected: str
) -> None:
    c = campaign(
        body="{% if subscriber.attributes.city %}in {{ subscriber.attributes.city }}."
        "{% else %}somewhere.{% endif %}"
    )
    mailer = CampaignMailer.prepare(c, None, APP, SECRET)
    _, data = mailer.build(recipient(**attributes), NOW)
    assert expected in _body_of(data)


def test_printing_a_missing_attribute_fails_that_recipient_with_the_name() -> None:
    app = APP.model_copy(update={"missing_attributes": "fail"})
    mailer = CampaignMailer.prepare(
        campaign(body="Hello {{ subscriber.attributes.city }}"), None, app, SECRET
    )
    with pytest.raises(TemplateError, match="city"):
        mailer.build(recipient(), NOW)
    _, data = mailer.build(recipient(city="Oslo"), NOW)
    assert "Hello Oslo" in _body_of(data)


def test_a_missing_attribute_prints_empty_by_default_like_listmonk() -> None:
    assert AppSettings().missing_attributes == "blank"
    c = campaign(
        subject="For {{ subscriber.attributes.city }}!",
        body="<p>Hello [{{ subscriber.attributes.city }}] [{{ subscriber.attributes['zip'] }}]"
        " [{{ subscriber.attributes.address.street | upper }}]"
        " [{{ 'x' ~ subscriber.attributes.plan }}]</p>",
        headers=(("X-City", "{{ subscriber.attributes.city }}"),),
    )
    mailer = CampaignMailer.prepare(c, None, APP, SECRET)
    msg = parse(mailer.build(recipient(), NOW)[1])
    assert msg["Subject"] == "For !"
    assert msg["X-City"] == ""
    assert "Hello [] [] [] [x]" in _body_of(msg.as_bytes())
    _, data = mailer.build(recipient(city="Oslo"), NOW)
    assert "Hello [Oslo]" in _body_of(data)
