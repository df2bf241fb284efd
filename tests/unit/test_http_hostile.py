"""The webhooks under attack: foreign SNS topics, look-alike certificate hosts, failing
certificate fetches, JSON bombs, oversized bodies and replayed SendGrid signatures."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from campaignd.bounces.sns import FAILURE_TTL, FETCH_BUDGET, cert_url_allowed
from campaignd.config import load_settings
from campaignd.domain import NewSubscriber, OptIn, SubscriberStatus, SubscriptionStatus
from campaignd.errors import ConfigError
from campaignd.http.app import create_app
from campaignd.http.limits import WEBHOOK_LIMIT
from campaignd.store.memory import MemoryStore
from tests.unit.test_http_webhooks import (
    CERT_URL,
    SENDGRID_EVENTS,
    SG_KEY,
    SG_PUBLIC,
    SNS_PEM,
    TOPIC,
    basic,
    make_settings,
    ses_complaint,
    sns_notification,
    sns_sign,
)

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


class Net:
    """The certificate fetcher: records URLs; answers with `answer` (bytes or an exception)."""

    def __init__(self) -> None:
        self.fetched: list[str] = []
        self.answer: bytes | Exception = SNS_PEM

    async def __call__(self, url: str) -> bytes:
        self.fetched.append(url)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def _client(
    store: MemoryStore, net: Net, clock: Clock, **bounces: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, make_settings(**bounces), fetch_cert=net, clock=clock)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://x") as client:
        yield client


@pytest.fixture
async def store() -> MemoryStore:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "")
    await store.add_subscriber(
        NewSubscriber("ann@example.com", "ann"), (news.id,), SubscriptionStatus.CONFIRMED
    )
    return store


@pytest.fixture
def net() -> Net:
    return Net()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(store: MemoryStore, net: Net, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(
        store,
        net,
        clock,
        ses_enabled=True,
        ses_topic_arns=(TOPIC,),
        sendgrid_username="sg",
        sendgrid_password=SecretStr("sg-pass"),
        postmark_username="pm",
        postmark_password=SecretStr("pm-pass"),
    ):
        yield c


async def _status(store: MemoryStore) -> SubscriberStatus:
    return (await store.get_subscriber("ann@example.com")).status


def _complaint(**extra: Any) -> dict[str, Any]:
    return sns_sign(sns_notification(ses_complaint("ann@example.com"), **extra))


# -- SES: topics, certificate hosts, fetch failures ------------------------------------------


def test_ses_enabled_without_topic_arns_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[bounces]\nses_enabled = true\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.key == "bounces.ses_topic_arns"
    result = subprocess.run(
        [sys.executable, "-m", "campaignd", "--config", str(path), "lists", "ls"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 78
    assert "bounces.ses_topic_arns" in result.stderr
    path.write_text('[bounces]\nses_enabled = true\nses_topic_arns = ["arn:aws:sns:x:1:t"]\n')
    with pytest.raises(ConfigError, match="not an SNS topic ARN"):
        load_settings(path, env={})
    path.write_text(f'[bounces]\nses_enabled = true\nses_topic_arns = ["{TOPIC}"]\n')
    assert load_settings(path, env={}).bounces.ses_topic_arns == (TOPIC,)


async def test_a_signed_message_of_another_topic_is_refused_before_any_fetch(
    client: httpx.AsyncClient, store: MemoryStore, net: Net
) -> None:
    foreign = _complaint(TopicArn="arn:aws:sns:eu-west-1:999999999999:attacker")
    missing = _complaint()
    del missing["TopicArn"]
    odd = {**_complaint(), "TopicArn": [TOPIC]}
    for body in (foreign, missing, odd):
        r = await client.post("/webhooks/ses", json=body)
        assert r.status_code == 403
    assert net.fetched == []
    assert await _status(store) is SubscriberStatus.ENABLED
    assert (await client.post("/webhooks/ses", json=_complaint())).status_code == 200
    assert await _status(store) is SubscriberStatus.BLOCKLISTED


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.s3.amazonaws.com/x.pem",
        "https://sns.amazonaws.com/x.pem",
        "https://sns.foo.amazonaws.com/x.pem",
        "https://sns.cn-north-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com.cn/x.pem",
        "https://sns.us-east-1.amazonaws.com/x\n.pem",
        "https://sns.us-east-1.amazonaws.com/x\t.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem?a=.pem",
        "https://sns.us-east-1.amazonaws.com./x.pem",
    ],
)
async def test_look_alike_certificate_hosts_are_never_fetched(
    client: httpx.AsyncClient, net: Net, url: str
) -> None:
    assert not cert_url_allowed(url)
    body = _complaint()
    body["SigningCertURL"] = url
    assert (await client.post("/webhooks/ses", json=body)).status_code == 403
    assert net.fetched == []


@pytest.mark.parametrize(
    "url",
    [
        CERT_URL,
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.ap-southeast-2.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.cn-northwest-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
    ],
)
def test_real_sns_hosts_are_allowed(url: str) -> None:
    assert cert_url_allowed(url)


@pytest.mark.parametrize(
    "error",
    [
        http.client.IncompleteRead(b"-----BEGIN"),
        http.client.BadStatusLine("x"),
        ssl.SSLError(1, "certificate verify failed"),
        OSError("connection refused"),
        TimeoutError(),
        RuntimeError("anything else"),
    ],
)
async def test_a_failing_certificate_fetch_answers_503_and_is_not_retried_at_once(
    client: httpx.AsyncClient, store: MemoryStore, net: Net, clock: Clock, error: Exception
) -> None:
    net.answer = error
    for _ in range(3):
        r = await client.post("/webhooks/ses", json=_complaint())
        assert r.status_code == 503
        assert "Traceback" not in r.text
        assert r.headers["retry-after"]
    assert net.fetched == [CERT_URL]  # the failure is cached
    net.answer = SNS_PEM
    clock.now += FAILURE_TTL + dt.timedelta(seconds=1)
    assert (await client.post("/webhooks/ses", json=_complaint())).status_code == 200
    assert net.fetched == [CERT_URL] * 2
    assert await _status(store) is SubscriberStatus.BLOCKLISTED


async def test_a_bad_certificate_is_refused_and_cached(client: httpx.AsyncClient, net: Net) -> None:
    net.answer = b"not a certificate"
    for _ in range(2):
        assert (await client.post("/webhooks/ses", json=_complaint())).status_code in (403, 503)
    assert net.fetched == [CERT_URL]


async def test_certificate_fetches_are_rationed_across_urls(
    client: httpx.AsyncClient, net: Net, clock: Clock
) -> None:
    net.answer = OSError("404")
    for n in range(FETCH_BUDGET + 5):
        body = _complaint()
        body["SigningCertURL"] = f"https://sns.us-east-1.amazonaws.com/x{n}.pem"
        assert (await client.post("/webhooks/ses", json=body)).status_code == 503
    assert len(net.fetched) == FETCH_BUDGET
    clock.now += dt.timedelta(hours=1)
    net.answer = SNS_PEM
    assert (await client.post("/webhooks/ses", json=_complaint())).status_code == 200


async def test_good_certificate_fetches_do_not_use_up_the_budget(
    client: httpx.AsyncClient, net: Net
) -> None:
    for n in range(FETCH_BUDGET + 5):  # a new certificate URL each time, all of them usable
        body = _complaint()
        body["SigningCertURL"] = f"https://sns.us-east-1.amazonaws.com/x{n}.pem"
        assert (await client.post("/webhooks/ses", json=body)).status_code == 200
    assert len(net.fetched) == FETCH_BUDGET + 5


# -- JSON bombs and oversized bodies ---------------------------------------------------------

HOSTILE_BODIES = [
    b"[" * 200_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"\xff\xfe not utf-8",
    b"",
]
AUTH = {
    "/webhooks/ses": {},
    "/webhooks/sendgrid": basic("sg", "sg-pass"),
    "/webhooks/postmark": basic("pm", "pm-pass"),
}


@pytest.mark.parametrize("path", sorted(AUTH))
@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=["open", "nested", "objects", "bytes", "0"])
async def test_hostile_json_answers_400_with_a_reason(
    client: httpx.AsyncClient, path: str, body: bytes
) -> None:
    r = await client.post(path, content=body, headers=AUTH[path])
    assert r.status_code == 400, r.text
    assert r.text.startswith("bad request: the body is ")
    assert "Traceback" not in r.text


async def test_a_deeply_nested_sns_message_answers_400(client: httpx.AsyncClient, net: Net) -> None:
    body = sns_sign(sns_notification({}, Message="[" * 200_000))
    r = await client.post("/webhooks/ses", json=body)
    assert r.status_code == 400
    assert "nested too deeply" in r.text


@pytest.mark.parametrize("path", sorted(AUTH))
async def test_bodies_over_the_limit_answer_413(client: httpx.AsyncClient, path: str) -> None:
    big = b"[" + b"0," * (WEBHOOK_LIMIT // 2) + b"0]"
    r = await client.post(path, content=big, headers=AUTH[path])
    assert r.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(WEBHOOK_LIMIT // 65536 + 2):
            yield b" " * 65536

    r = await client.post(path, content=chunks(), headers=AUTH[path])
    assert r.status_code == 413


# -- SendGrid replay window ------------------------------------------------------------------


def _sendgrid_signed(stamp: int, body: bytes) -> dict[str, str]:
    sig = SG_KEY.sign(str(stamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "content-type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(stamp),
    }


@pytest.mark.parametrize(
    ("skew", "accepted"), [(-601, False), (-600, True), (0, True), (600, True), (601, False)]
)
async def test_sendgrid_signatures_are_accepted_ten_minutes_either_side(
    store: MemoryStore, net: Net, clock: Clock, skew: int, accepted: bool
) -> None:
    body = json.dumps(SENDGRID_EVENTS[:1]).encode()
    stamp = int(T0.timestamp()) + skew
    async for client in _client(store, net, clock, sendgrid_verification_key=SG_PUBLIC):
        r = await client.post(
            "/webhooks/sendgrid", content=body, headers=_sendgrid_signed(stamp, body)
        )
        assert r.status_code == (200 if accepted else 401)
    blocked = await _status(store) is SubscriberStatus.BLOCKLISTED
    assert blocked is accepted
