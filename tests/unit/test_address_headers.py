"""Reply-To, Sender... from templates: subscriber data fills display names, never addresses."""

from __future__ import annotations

import email
import email.policy
from email.headerregistry import Address, AddressHeader
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignd.domain import NewCampaign
from campaignd.errors import HeaderInjection, InvalidInput, TemplateError
from campaignd.rendering import address_headers
from campaignd.rendering.compose import CampaignMailer, check_campaign
from tests.unit.test_compose import APP, LAYOUT, NOW, SECRET, campaign, recipient

HOSTILE_NAMES = [
    "Eve <eve@evil.example>, x",
    '"a" <b@c.example>',
    "Eve <eve@evil.example>",
    "eve@evil.example",
    "a, b@evil.example",
    'x", eve@evil.example, "y',
    "Eve\r\nBcc: eve@evil.example",
    "Eve\nReply-To: eve@evil.example",
    "=?utf-8?q?Eve_=3Ceve=40evil=2Eexample=3E?=",
    "=?utf-8?b?RXZlIDxldmVAZXZpbC5leGFtcGxlPg==?= <eve@evil.example>",
    "Eve (comment) <eve@evil.example>; group:;",
    '\\" <eve@evil.example>',
    "Ève <ève@évil.example>, Ünïcödé",
    "",
]


def addresses(data: bytes, header: str) -> tuple[Address, ...]:
    """The header read as an address list, whatever its name (the registry knows few)."""
    raw = email.message_from_bytes(data, policy=email.policy.compat32)[header]
    unfolded = raw.replace("\r\n", "").replace("\n", "")
    parsed = email.policy.default.header_factory("Reply-To", unfolded)
    assert isinstance(parsed, AddressHeader)
    assert not parsed.defects
    return parsed.addresses


def reply_to(template: str, name: str, header: str = "Reply-To") -> bytes:
    c = campaign(headers=((header, template),))
    data = CampaignMailer.prepare(c, LAYOUT, APP, SECRET).build(recipient(name=name), NOW)[1]
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert not msg.defects
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.count(b"\r\n" + header.encode() + b":") == 1
    assert b"\r\nBcc:" not in head
    return data


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("header", ["Reply-To", "Sender", "Mail-Followup-To"])
def test_a_name_cannot_add_or_replace_an_address(name: str, header: str) -> None:
    msg = reply_to("{{ subscriber.name }} via News <reply@acme.example>", name, header)
    (mailbox,) = addresses(msg, header)
    assert mailbox.addr_spec == "reply@acme.example"
    clean = " ".join(name.replace("\r", " ").replace("\n", " ").split())
    # Python's parser puts a space between adjacent encoded words (see test_compose)
    assert mailbox.display_name.replace(" ", "") == f"{clean}viaNews".replace(" ", "")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_lists_keep_their_addresses_in_order(name: str) -> None:
    msg = reply_to(
        '"{{ subscriber.first_name }}, support" <help@acme.example>, sales@acme.example, '
        "Team {{ subscriber.last_name }} <team@bücher.example>",
        name,
    )
    assert [a.addr_spec for a in addresses(msg, "Reply-To")] == [
        "help@acme.example",
        "sales@acme.example",
        "team@xn--bcher-kva.example",
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.one_of(st.sampled_from('<>,"@;:\\()=?\r\n '), st.characters()), max_size=30))
def test_no_name_changes_the_addresses(name: str) -> None:
    msg = reply_to("{{ subscriber.name }} <reply@acme.example>, x@acme.example", name)
    assert [a.addr_spec for a in addresses(msg, "Reply-To")] == [
        "reply@acme.example",
        "x@acme.example",
    ]


@pytest.mark.parametrize(
    "template",
    [
        "{{ subscriber.email }}",
        "{{ subscriber.attributes.reply_to }}",
        "News <{{ subscriber.attributes.manager }}>",
        "News <reply+{{ subscriber.uuid }}@acme.example>",
        "reply@{{ campaign.name }}.example",
        "News <reply@acme.example>, {{ subscriber.name }}",
        "News <not an address>",
        '"unclosed <reply@acme.example>',
        "News <reply@acme.example>,",
        "A <b> <reply@acme.example>",
    ],
)
def test_templates_that_could_place_an_address_are_refused(template: str) -> None:
    new = NewCampaign(
        name="c",
        subject="s",
        from_email="a@acme.example",
        body="b",
        lists=("news",),
        headers=(("Reply-To", template),),
    )
    with pytest.raises(HeaderInjection, match="header Reply-To"):
        check_campaign(new, None, APP)
    with pytest.raises(InvalidInput, match="header Reply-To"):
        CampaignMailer.prepare(campaign(headers=(("Reply-To", template),)), LAYOUT, APP, SECRET)


def test_a_forged_separator_fails_only_that_recipient() -> None:
    c = campaign(headers=(("Reply-To", "{{ subscriber.name }} <r@acme.example>"),))
    mailer = CampaignMailer.prepare(c, LAYOUT, APP, SECRET)
    with pytest.raises(TemplateError, match="could not be separated"):
        mailer.build(recipient(name=f"a{address_headers.SEPARATOR}b"), NOW)


def test_parse_reads_quotes_and_literals() -> None:
    boxes = address_headers.parse(
        "Reply-To", '"Support \\"desk\\", {{ x }}" <help@acme.example>, plain@acme.example'
    )
    assert boxes == (
        address_headers.Mailbox('Support "desk", {{ x }}', "help@acme.example"),
        address_headers.Mailbox("", "plain@acme.example"),
    )
