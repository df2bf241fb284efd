"""Bounce webhooks through the ASGI app: SES over SNS (signatures), SendGrid, Postmark.

Payloads are modelled on the providers' documented examples. SNS signing certificates come from
a local fetcher holding a test key pair: nothing is fetched from the network.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from campaignd.bounces.sns import cert_url_allowed, string_to_sign
from campaignd.config import BounceSettings, SecuritySettings, Settings
from campaignd.domain import NewSubscriber, OptIn, SubscriberStatus, SubscriptionStatus
from campaignd.http.app import create_app
from campaignd.store.memory import MemoryStore

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc123.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"


def _rsa_cert() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


SNS_KEY, SNS_PEM = _rsa_cert()
SG_KEY = ec.generate_private_key(ec.SECP256R1())
SG_PUBLIC = base64.b64encode(
    SG_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def sns_sign(message: dict[str, Any], version: str = "2") -> dict[str, Any]:
    message = {**message, "SignatureVersion": version, "SigningCertURL": CERT_URL}
    algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303
    sig = SNS_KEY.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
    return {**message, "Signature": base64.b64encode(sig).decode()}


def sns_notification(ses_message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": json.dumps(ses_message),
        "Timestamp": "2026-03-01T12:00:00.000Z",
        **extra,
    }


def ses_bounce(
    email: str,
    bounce_type: str,
    sub_type: str,
    status: str,
    feedback_id: str = "0100018e-a1b2c3d4-e5f6-000000",
) -> dict[str, Any]:
    campaign = "9f0c6b2e-3c1a-4d5e-8f7a-1b2c3d4e5f60"
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": [
                {
                    "emailAddress": email,
                    "action": "failed",
                    "status": status,
                    "diagnosticCode": f"smtp; 550 {status} user unknown",
                }
            ],
            "timestamp": "2026-03-01T12:00:00.000Z",
            "feedbackId": feedback_id,
            "remoteMtaIp": "192.0.2.1",
            "reportingMTA": "dsn; a27-1.smtp-out.eu-west-1.amazonses.com",
        },
        "mail": {
            "timestamp": "2026-03-01T11:59:58.000Z",
            "source": "news@example.com",
            "messageId": "0100018e-0000",
            "destination": [email],
            "headersTruncated": False,
            "headers": [
                {"name": "From", "value": "news@example.com"},
                {"name": "X-Campaignd-Id", "value": f"{campaign}.{uuid.uuid4()}"},
            ],
        },
    }


def ses_complaint(email: str) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": email}],
            "timestamp": "2026-03-01T12:00:00.000Z",
            "feedbackId": "0100018e-ffff",
            "userAgent": "ExampleCorp Feedback Loop (V0.01)",
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2026-03-01T11:59:00.000Z",
        },
        "mail": {"timestamp": "2026-03-01T11:58:00.000Z", "source": "news@example.com"},
    }


@dataclass
class World:
    store: MemoryStore
    client: httpx.AsyncClient
    fetched: list[str] = field(default_factory=list)

    async def status(self, email: str) -> SubscriberStatus:
        return (await self.store.get_subscriber(email)).status

    async def lists(self, email: str) -> set[SubscriptionStatus]:
        return {s.status for s in (await self.store.get_subscriber(email)).subscriptions}


def make_settings(**bounces: Any) -> Settings:
    return Settings(
        security=SecuritySettings(secret=SecretStr("k" * 32)),
        bounces=BounceSettings(**bounces),
    )


async def _world(settings: Settings, clock: Callable[[], dt.datetime] | None = None) -> World:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "")
    for who in ("ann", "bob", "cat"):
        await store.add_subscriber(
            NewSubscriber(f"{who}@example.com", who), (news.id,), SubscriptionStatus.CONFIRMED
        )
    fetched: list[str] = []

    async def fetch(url: str) -> bytes:
        fetched.append(url)
        return SNS_PEM

    app = create_app(store, settings, fetch_cert=fetch, **({"clock": clock} if clock else {}))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://x")
    return World(store, client, fetched)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = await _world(
        make_settings(
            ses_enabled=True,
            ses_topic_arns=(TOPIC,),
            sendgrid_username="sg",
            sendgrid_password=SecretStr("sg-pass"),
            postmark_username="pm",
            postmark_password=SecretStr("pm-pass"),
        )
    )
    async with w.client:
        yield w


# -- SES over SNS ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
async def test_ses_hard_bounce_blocklists(world: World, version: str) -> None:
    body = sns_sign(
        sns_notification(ses_bounce("ann@example.com", "Permanent", "General", "5.1.1")), version
    )
    r = await world.client.post("/webhooks/ses", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 1, "recorded": 1}
    assert await world.status("ann@example.com") is SubscriberStatus.BLOCKLISTED
    assert await world.status("bob@example.com") is SubscriberStatus.ENABLED
    assert world.fetched == [CERT_URL]


def soft_bounce_notification(feedback_id: str) -> dict[str, Any]:
    bounce = ses_bounce("bob@example.com", "Transient", "MailboxFull", "5.2.2", feedback_id)
    return sns_sign(sns_notification(bounce))


async def test_ses_soft_bounces_unsubscribe_after_the_configured_count(world: World) -> None:
    for n in range(2):
        body = soft_bounce_notification(f"0100018e-soft-{n}")
        assert (await world.client.post("/webhooks/ses", json=body)).status_code == 200
        assert await world.lists("bob@example.com") == {SubscriptionStatus.CONFIRMED}
    body = soft_bounce_notification("0100018e-soft-2")
    assert (await world.client.post("/webhooks/ses", json=body)).status_code == 200
    assert await world.lists("bob@example.com") == {SubscriptionStatus.UNSUBSCRIBED}
    assert await world.status("bob@example.com") is SubscriberStatus.ENABLED
    assert world.fetched == [CERT_URL]  # the certificate is cached


async def test_ses_complaint_blocklists(world: World) -> None:
    body = sns_sign(sns_notification(ses_complaint("cat@example.com")))
    r = await world.client.post("/webhooks/ses", json=body)
    assert r.json() == {"received": 1, "recorded": 1}
    assert await world.status("cat@example.com") is SubscriberStatus.BLOCKLISTED


async def test_ses_tampered_message_is_refused(world: World) -> None:
    body = sns_sign(
        sns_notification(ses_bounce("ann@example.com", "Permanent", "General", "5.1.1"))
    )
    body["Message"] = body["Message"].replace("ann@", "bob@")
    r = await world.client.post("/webhooks/ses", json=body)
    assert r.status_code == 403
    assert await world.status("bob@example.com") is SubscriberStatus.ENABLED
    unsigned = sns_notification(ses_complaint("bob@example.com"))
    r = await world.client.post("/webhooks/ses", json=unsigned)
    assert r.status_code == 403
    assert await world.status("bob@example.com") is SubscriberStatus.ENABLED


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
        "http://sns.eu-west-1.amazonaws.com/x.pem",
        "https://user@sns.eu-west-1.amazonaws.com/x.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/x.pem",
        "https://sns.eu-west-1.amazonaws.com/x.txt",
        "https://s3.amazonaws.com/x.pem",
    ],
)
async def test_certificates_are_only_fetched_from_sns_hosts(world: World, url: str) -> None:
    assert not cert_url_allowed(url)
    body = sns_sign(sns_notification(ses_complaint("ann@example.com")))
    body["SigningCertURL"] = url
    r = await world.client.post("/webhooks/ses", json=body)
    assert r.status_code == 403
    assert world.fetched == []
    assert await world.status("ann@example.com") is SubscriberStatus.ENABLED


async def test_subscription_confirmation_is_logged_not_fetched(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    subscribe = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc"
    body = sns_sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "abc",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe to the topic. To confirm, visit the URL.",
            "SubscribeURL": subscribe,
            "Timestamp": "2026-03-01T12:00:00.000Z",
        }
    )
    with caplog.at_level(logging.WARNING, logger="campaignd.http.bounces"):
        r = await world.client.post("/webhooks/ses", json=body)
    assert r.status_code == 200
    assert subscribe in caplog.text
    assert world.fetched == [CERT_URL]  # the certificate only, never the SubscribeURL


async def test_ses_topic_allow_list_and_disabled_endpoint() -> None:
    other = "arn:aws:sns:eu-west-1:123456789012:other"
    w = await _world(make_settings(ses_enabled=True, ses_topic_arns=(other,)))
    async with w.client:
        body = sns_sign(sns_notification(ses_complaint("ann@example.com")))
        assert (await w.client.post("/webhooks/ses", json=body)).status_code == 403
        assert await w.status("ann@example.com") is SubscriberStatus.ENABLED
    w = await _world(make_settings())
    async with w.client:
        for path in ("/webhooks/ses", "/webhooks/sendgrid", "/webhooks/postmark"):
            assert (await w.client.post(path, json={})).status_code == 404


async def test_a_redelivered_ses_notification_counts_once(world: World) -> None:
    body = soft_bounce_notification("0100018e-soft-0")  # SNS retries the same notification
    answers = [(await world.client.post("/webhooks/ses", json=body)).json() for _ in range(3)]
    assert answers == [{"received": 1, "recorded": 1}] + [{"received": 1, "recorded": 0}] * 2
    assert [b[2:4] for b in world.store._bounces] == [("soft", "ses")]  # one bounce
    assert await world.lists("bob@example.com") == {SubscriptionStatus.CONFIRMED}


# -- SendGrid ----------------------------------------------------------------------------------

SENDGRID_EVENTS = [
    {
        "email": "ann@example.com",
        "timestamp": 1772366400,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "bounce",
        "category": ["newsletter"],
        "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "reason": "500 unknown recipient",
        "status": "5.0.0",
        "type": "bounce",
        "bounce_classification": "Invalid Address",
    },
    {
        "email": "bob@example.com",
        "timestamp": 1772366400,
        "event": "bounce",
        "type": "blocked",
        "status": "4.0.0",
        "reason": "mailbox full",
        "sg_event_id": "b2",
    },
    {"email": "cat@example.com", "timestamp": 1772366400, "event": "spamreport"},
    {"email": "bob@example.com", "timestamp": 1772366400, "event": "delivered"},
    {"email": "bob@example.com", "event": "dropped", "reason": "Bounced Address"},
    "not an event",
]


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_sendgrid_events_with_basic_auth(world: World) -> None:
    r = await world.client.post(
        "/webhooks/sendgrid", json=SENDGRID_EVENTS, headers=basic("sg", "sg-pass")
    )
    assert r.status_code == 200
    assert r.json() == {"received": 3, "recorded": 3}
    assert await world.status("ann@example.com") is SubscriberStatus.BLOCKLISTED  # hard
    assert await world.status("bob@example.com") is SubscriberStatus.ENABLED  # one soft
    assert await world.status("cat@example.com") is SubscriberStatus.BLOCKLISTED  # complaint


async def test_sendgrid_retried_batch_records_only_events_without_an_id_again(
    world: World,
) -> None:
    auth = basic("sg", "sg-pass")
    await world.client.post("/webhooks/sendgrid", json=SENDGRID_EVENTS, headers=auth)
    again = await world.client.post("/webhooks/sendgrid", json=SENDGRID_EVENTS, headers=auth)
    # ann and bob carry sg_event_id: repeats; the spam report has no id, so it counts again
    assert again.json() == {"received": 3, "recorded": 1}
    assert [b[3] for b in world.store._bounces].count("sendgrid") == 4


@pytest.mark.parametrize(
    "headers",
    [{}, basic("sg", "wrong"), basic("other", "sg-pass"), {"Authorization": "Basic !!!"}],
)
async def test_sendgrid_refuses_bad_credentials(world: World, headers: dict[str, str]) -> None:
    r = await world.client.post("/webhooks/sendgrid", json=SENDGRID_EVENTS, headers=headers)
    assert r.status_code == 401
    assert "sg-pass" not in r.text
    assert await world.status("ann@example.com") is SubscriberStatus.ENABLED


async def test_sendgrid_signed_event_webhook() -> None:
    stamp = "1772366400"
    signed_at = dt.datetime.fromtimestamp(int(stamp), dt.UTC)
    w = await _world(make_settings(sendgrid_verification_key=SG_PUBLIC), lambda: signed_at)
    body = json.dumps(SENDGRID_EVENTS[:1]).encode()
    sig = base64.b64encode(SG_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    headers = {
        "content-type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": sig,
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }
    async with w.client:
        bad = {**headers, "X-Twilio-Email-Event-Webhook-Timestamp": "1772366401"}
        r = await w.client.post("/webhooks/sendgrid", content=body, headers=bad)
        assert r.status_code == 401
        r = await w.client.post("/webhooks/sendgrid", content=body + b" ", headers=headers)
        assert r.status_code == 401
        assert await w.status("ann@example.com") is SubscriberStatus.ENABLED
        r = await w.client.post("/webhooks/sendgrid", content=body, headers=headers)
        assert r.status_code == 200
        assert await w.status("ann@example.com") is SubscriberStatus.BLOCKLISTED


# -- Postmark ----------------------------------------------------------------------------------


def postmark_bounce(email: str, kind: str, code: int) -> dict[str, Any]:
    return {
        "RecordType": "Bounce" if kind != "SpamComplaint" else "SpamComplaint",
        "MessageStream": "broadcast",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": code,
        "Name": "Hard bounce",
        "Tag": "newsletter",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {"a_key": "a_value"},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "Test bounce details",
        "Email": email,
        "From": "news@example.com",
        "BouncedAt": "2026-03-01T12:00:00Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Test subject",
        "Content": "Return-Path:....",
    }


async def test_postmark_bounces_and_complaints(world: World) -> None:
    auth = basic("pm", "pm-pass")
    r = await world.client.post(
        "/webhooks/postmark", json=postmark_bounce("ann@example.com", "HardBounce", 1), headers=auth
    )
    assert r.json() == {"received": 1, "recorded": 1}
    assert await world.status("ann@example.com") is SubscriberStatus.BLOCKLISTED
    r = await world.client.post(  # Postmark retries a webhook that did not get a 200
        "/webhooks/postmark", json=postmark_bounce("ann@example.com", "HardBounce", 1), headers=auth
    )
    assert r.json() == {"received": 1, "recorded": 0}
    r = await world.client.post(
        "/webhooks/postmark",
        json=postmark_bounce("cat@example.com", "SpamComplaint", 512),
        headers=auth,
    )
    assert await world.status("cat@example.com") is SubscriberStatus.BLOCKLISTED
    for kind, code in (("AutoResponder", 64), ("Unknown", 2048)):
        r = await world.client.post(
            "/webhooks/postmark", json=postmark_bounce("bob@example.com", kind, code), headers=auth
        )
        assert r.json() == {"received": 0, "recorded": 0}
    r = await world.client.post(
        "/webhooks/postmark",
        json=postmark_bounce("nobody@example.com", "HardBounce", 1),
        headers=auth,
    )
    assert r.json() == {"received": 1, "recorded": 0}
    assert await world.status("bob@example.com") is SubscriberStatus.ENABLED


async def test_postmark_needs_its_credentials_and_json(world: World) -> None:
    body = postmark_bounce("ann@example.com", "HardBounce", 1)
    r = await world.client.post("/webhooks/postmark", json=body, headers=basic("sg", "sg-pass"))
    assert r.status_code == 401
    r = await world.client.post(
        "/webhooks/postmark", content=b"{not json", headers=basic("pm", "pm-pass")
    )
    assert r.status_code == 400
    assert await world.status("ann@example.com") is SubscriberStatus.ENABLED


@pytest.mark.parametrize(
    "when", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "not a time"]
)
async def test_a_provider_time_out_of_range_falls_back_to_ours(world: World, when: str) -> None:
    body = {**postmark_bounce("ann@example.com", "HardBounce", 1), "BouncedAt": when}
    r = await world.client.post("/webhooks/postmark", json=body, headers=basic("pm", "pm-pass"))
    assert (r.status_code, r.json()) == (200, {"received": 1, "recorded": 1})
    assert await world.status("ann@example.com") is SubscriberStatus.BLOCKLISTED


@pytest.mark.parametrize("stamp", ["1e300", "Infinity", "253402300799", "-1", "NaN"])
async def test_a_sendgrid_time_out_of_range_falls_back_to_ours(world: World, stamp: str) -> None:
    event = {**SENDGRID_EVENTS[0], "timestamp": 0}
    raw = json.dumps([event]).replace('"timestamp": 0', f'"timestamp": {stamp}')
    r = await world.client.post(
        "/webhooks/sendgrid",
        content=raw.encode(),
        headers={**basic("sg", "sg-pass"), "content-type": "application/json"},
    )
    assert (r.status_code, r.json()) == (200, {"received": 1, "recorded": 1})
    assert await world.status("ann@example.com") is SubscriberStatus.BLOCKLISTED
