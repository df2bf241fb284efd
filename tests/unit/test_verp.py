"""VERP tokens and addresses: round trip, any letter case, forged or foreign ones refused, and
the per-recipient envelope sender and mailto that compose builds from them."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import os
import uuid
from pathlib import Path

import pytest

from campaignd.config import AppSettings, load_settings
from campaignd.domain import Recipient
from campaignd.errors import ConfigError, InvalidInput, InvalidToken
from campaignd.messengers.envelope import Envelope, _checked_mail_from
from campaignd.rendering import verp
from campaignd.rendering.compose import CampaignMailer
from campaignd.rendering.verp import Role, VerpCodec
from tests.unit.test_compose import LAYOUT, campaign

SECRET = "a-signing-secret-of-some-length"
SUB = uuid.UUID("12345678-1234-5678-1234-567812345678")
CODEC = VerpCodec(SECRET, "bounces@example.com", "unsubscribe@example.com")
NOW = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC)


def test_round_trip_and_shape() -> None:
    token = CODEC.token(7, SUB)
    assert len(token) == verp.TOKEN_LEN == 48
    assert token == token.lower() and set(token) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert CODEC.verify(token) == (7, SUB)
    assert CODEC.verify(token.upper()) == (7, SUB)  # an MTA that upper-cases local parts
    big = CODEC.token(2**32 - 1, SUB)
    assert CODEC.verify(big) == (2**32 - 1, SUB)


def test_encoding_is_rfc4648_base32() -> None:
    for _ in range(200):
        raw = os.urandom(30)
        assert verp._encode(raw) == base64.b32encode(raw).decode().lower()


def test_addresses_parse_in_any_case() -> None:
    mailer = CODEC.for_campaign(7, "bounces@example.com", "unsubscribe@example.com")
    bounce = mailer.bounce_address(SUB)
    unsub = mailer.unsubscribe_address(SUB)
    assert unsub is not None
    assert bounce == f"bounces+{CODEC.token(7, SUB)}@example.com"
    assert len(bounce.partition("@")[0]) <= 64
    for address, role in ((bounce, Role.BOUNCE), (unsub, Role.UNSUBSCRIBE)):
        for spelled in (address, address.lower(), address.upper()):
            target = CODEC.parse(spelled)
            assert target is not None
            assert (target.role, target.campaign_id, target.subscriber_uuid) == (role, 7, SUB)


@pytest.mark.parametrize(
    "address",
    [
        "bounces@example.com",  # no token
        "bounces+@example.com",
        "postmaster@example.com",
        "someone+{token}@example.com",  # another local part
        "bounces+{token}@other.example",  # a DSN for another domain
        "bounces+{token}@example.com.evil.example",
        "bounces+{token}x@example.com",
        "bounces+{token_short}@example.com",
        "bounces+{forged}@example.com",  # one character changed
        "bounces+{foreign}@example.com",  # signed with another secret
        "bounces+{token}",
        '"bounces+{token}"@example.com',
        "",
    ],
)
def test_foreign_or_forged_addresses_are_refused(address: str) -> None:
    token = CODEC.token(7, SUB)
    forged = token[:10] + ("a" if token[10] != "a" else "b") + token[11:]
    foreign = VerpCodec("another-secret-of-some-length").token(7, SUB)
    spelled = address.format(token=token, token_short=token[:-1], forged=forged, foreign=foreign)
    assert CODEC.parse(spelled) is None


def test_a_token_names_only_its_campaign() -> None:
    """The tag covers the campaign id: a valid token moved to another campaign is forged."""
    raw = bytearray(base64.b32decode(CODEC.token(7, SUB).upper()))
    raw[3] = 8  # campaign 7 -> 8, the subscriber and tag kept
    with pytest.raises(InvalidToken):
        CODEC.verify(verp._encode(bytes(raw)))
    assert CODEC.verify(CODEC.token(8, SUB)) == (8, SUB)
    assert CODEC.token(8, SUB) != CODEC.token(7, SUB)


def test_base_addresses_that_cannot_carry_a_token() -> None:
    for base in ("a-very-long-bounce-address@example.com", "b+x@example.com", "bounces", "é@x.org"):
        with pytest.raises(InvalidInput, match=r"bounces\.return_path"):
            VerpCodec(SECRET, base)


def recipient() -> Recipient:
    return Recipient(1, 7, 3, SUB, "ada@example.org", "Ada", {"note": "hi"}, 0)


def test_compose_uses_verp_for_the_envelope_and_the_mailto() -> None:
    app = AppSettings(
        root_url="https://news.example.com", unsubscribe_mailto="Leave <leave@ex.org>"
    )
    mailer = CampaignMailer.prepare(campaign(), LAYOUT, app, SECRET, "bounces@example.com")
    _, data = mailer.build(recipient(), NOW)
    sender = mailer.envelope_sender(recipient())
    target = CODEC.parse(sender)
    assert target is not None and (target.campaign_id, target.subscriber_uuid) == (7, SUB)
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert "Return-Path" not in msg
    unsubscribe = str(msg["List-Unsubscribe"])
    token = CODEC.token(7, SUB)
    assert f"<mailto:leave+{token}@ex.org?subject=unsubscribe>" in unsubscribe
    assert "https://news.example.com/unsubscribe/" in unsubscribe
    assert mailer.envelope_from == "news@acme.example"  # the From address stays
    assert Envelope.build(sender, ["ada@example.org"], data).mail_from == (
        f"FROM:<{sender}>".encode()
    )
    assert _checked_mail_from(sender)[0] == f"FROM:<{sender}>".encode()


def test_compose_without_return_path_is_unchanged() -> None:
    app = AppSettings(root_url="https://news.example.com", unsubscribe_mailto="leave@ex.org")
    mailer = CampaignMailer.prepare(campaign(), LAYOUT, app, SECRET)
    _, data = mailer.build(recipient(), NOW)
    assert mailer.envelope_sender(recipient()) == "news@acme.example"
    assert b"<mailto:leave@ex.org?subject=unsubscribe>" in data


def test_every_recipient_gets_its_own_token() -> None:
    mailer = CampaignMailer.prepare(campaign(), LAYOUT, AppSettings(), SECRET, "b@example.com")
    others = [
        Recipient(i, 7, i, uuid.uuid4(), f"s{i}@x.org", "", {"note": ""}, 0) for i in range(50)
    ]
    senders = set()
    for r in others:
        mailer.build(r, NOW)
        sender = mailer.envelope_sender(r)
        target = CODEC.parse(sender.replace("b+", "bounces+"))
        assert target is not None and target.subscriber_uuid == r.uuid
        senders.add(sender)
    assert len(senders) == 50


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_settings(tmp_path: Path) -> None:
    s = load_settings(env={})
    assert (s.bounces.return_path, s.inbound.enabled, s.inbound.listen) == (
        "",
        False,
        "127.0.0.1:2526",
    )
    with pytest.raises(ConfigError, match=r"bounces\.return_path: must be a bare ASCII address"):
        load_settings(write(tmp_path, '[bounces]\nreturn_path = "b+x@example.com"\n'), env={})
    long_mailto = (
        '[bounces]\nreturn_path = "b@example.com"\n'
        '[app]\nunsubscribe_mailto = "newsletter-unsubscribe@example.com"\n'
    )
    with pytest.raises(ConfigError, match=r"app.unsubscribe_mailto \(with bounces.return_path"):
        load_settings(write(tmp_path, long_mailto), env={})
    with pytest.raises(ConfigError, match=r"inbound: tls_cert_file and tls_key_file go together"):
        load_settings(write(tmp_path, '[inbound]\ntls_cert_file = "/x.pem"\n'), env={})
    with pytest.raises(ConfigError, match=r"inbound\.listen: must be host:port"):
        load_settings(write(tmp_path, '[inbound]\nlisten = "2526"\n'), env={})
    with pytest.raises(ConfigError, match=r"inbound\.max_message_size"):
        load_settings(write(tmp_path, "[inbound]\nmax_message_size = 0\n"), env={})
