"""Deliverability headers (Feedback-ID, Precedence: bulk, Message-ID on the From domain) and the
DKIM signer a campaign gets (its From domain's key, its own headers signed)."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from pydantic import ValidationError

from campaignd.config import AppSettings
from campaignd.rendering.compose import CampaignMailer
from campaignd.rendering.dkim import DkimKey, DkimSigner
from campaignd.subscribers.optin import prepare as optin_mailer
from tests.unit.test_compose import APP, LAYOUT, NOW, SECRET, campaign, parse, recipient
from tests.unit.test_dkim import pem


def build(app: AppSettings, **overrides: object) -> bytes:
    mailer = CampaignMailer.prepare(campaign(**overrides), LAYOUT, app, SECRET)
    return mailer.build(recipient(), NOW)[1]


def test_off_by_default() -> None:
    msg = parse(build(APP))
    assert msg["Feedback-ID"] is None and msg["Precedence"] is None


def test_feedback_id_is_campaign_lists_sender_and_precedence_bulk() -> None:
    app = APP.model_copy(update={"feedback_id_sender": "acme-news", "precedence_bulk": True})
    msg = parse(build(app, id=42, list_ids=(9, 3)))
    assert msg["Feedback-ID"] == "42:3.9:acme-news"
    assert msg["Precedence"] == "bulk"


def test_a_campaign_header_of_the_same_name_wins() -> None:
    app = APP.model_copy(update={"feedback_id_sender": "acme-news", "precedence_bulk": True})
    data = build(app, headers=(("Feedback-ID", "x:y:z"), ("Precedence", "list")))
    msg = parse(data)
    assert msg.get_all("Feedback-ID") == ["x:y:z"] and msg.get_all("Precedence") == ["list"]


def test_optin_mails_get_neither() -> None:
    app = APP.model_copy(update={"feedback_id_sender": "acme-news", "precedence_bulk": True})
    mailer = optin_mailer(app, SECRET, from_email="news@acme.example")
    msg = parse(mailer.build(recipient(), NOW, optin_lists=(1,))[1])
    assert msg["Feedback-ID"] is None and msg["Precedence"] is None


@pytest.mark.parametrize("bad", ["a:b", "two words", "x" * 65, "é"])
def test_feedback_id_sender_is_one_token(bad: str) -> None:
    with pytest.raises(ValidationError):
        AppSettings(feedback_id_sender=bad)


def test_message_id_is_on_the_from_domain_unless_set() -> None:
    assert re.fullmatch(r"<[\w-]+@acme\.example>", parse(build(APP))["Message-ID"])
    app = APP.model_copy(update={"message_id_domain": "mid.example.net"})
    assert parse(build(app))["Message-ID"].endswith("@mid.example.net>")


def test_the_signer_is_the_from_domains_and_signs_the_campaign_headers() -> None:
    key = DkimKey.from_pem("acme.example", "s1", pem(ed25519.Ed25519PrivateKey.generate()))
    app = APP.model_copy(update={"precedence_bulk": True})
    mailer = CampaignMailer.prepare(campaign(), LAYOUT, app, SECRET, dkim=DkimSigner([key]))
    assert mailer.sign is not None
    signed = mailer.sign(mailer.build(recipient(), NOW)[1])
    h_tag = re.search(rb"\bh=([^;]*);", signed)
    assert h_tag is not None
    names = set(re.sub(rb"\s", b"", h_tag.group(1)).split(b":"))
    assert {b"x-mailgun-tag", b"precedence", b"list-unsubscribe-post"} <= names
    other = CampaignMailer.prepare(
        campaign(from_email="x@other.example"), LAYOUT, app, SECRET, dkim=DkimSigner([key])
    )
    assert other.sign is None
