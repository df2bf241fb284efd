"""POST /webhooks/ses, /webhooks/sendgrid, /webhooks/postmark: authenticate, parse, apply.

A webhook whose credentials are not configured answers 404, as if it did not exist. Failed
authentication answers 401 (403 for a bad SNS signature) with the same short body every time.
Credentials are compared in constant time; nothing about them is logged. A body that is not
JSON (or nested too deeply to parse) answers 400, one over the size limit 413.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import logging
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from campaignd.bounces.providers import parse_postmark, parse_sendgrid, parse_ses
from campaignd.bounces.rules import BounceEvent
from campaignd.errors import BadPayload, SnsSignatureError, SnsUnavailable
from campaignd.http.context import HttpContext, context

log = logging.getLogger(__name__)

SG_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SG_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
#: A signed SendGrid request is accepted this long before or after its timestamp header.
SENDGRID_MAX_SKEW = dt.timedelta(minutes=10)


def _not_found() -> Response:
    return PlainTextResponse("not found\n", status_code=404)


def _unauthorized() -> Response:
    return PlainTextResponse(
        "unauthorized\n", status_code=401, headers={"WWW-Authenticate": 'Basic realm="campaignd"'}
    )


def _bad(reason: str) -> Response:
    return PlainTextResponse(f"bad request: {reason}\n", status_code=400)


def basic_auth_ok(request: Request, username: str, password: str) -> bool:
    """The request carries exactly these basic-auth credentials (constant-time compare)."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, sep, given = base64.b64decode(encoded.strip(), validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return False
    user_ok = hmac.compare_digest(user, username.encode("utf-8"))
    pass_ok = hmac.compare_digest(given, password.encode("utf-8"))
    return bool(sep) and user_ok and pass_ok


def sendgrid_signature_ok(key: str, body: bytes, signature: str, timestamp: str) -> bool:
    """SendGrid's Signed Event Webhook: ECDSA P-256/SHA-256 over timestamp + raw body."""
    try:
        if key.lstrip().startswith("-----BEGIN"):
            public = serialization.load_pem_public_key(key.encode("ascii"))
        else:
            public = serialization.load_der_public_key(base64.b64decode(key, validate=True))
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return False
    try:
        public.verify(raw, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def parse_json(data: bytes | str, what: str = "the body") -> Any:
    """`data` as JSON; raise BadPayload for anything else, however deep or odd it is."""
    try:
        return json.loads(data)
    except RecursionError:
        raise BadPayload(f"{what} is nested too deeply") from None
    except (UnicodeDecodeError, ValueError):
        raise BadPayload(f"{what} is not JSON") from None


async def _json(request: Request) -> Any:
    return parse_json(await request.body())


async def _apply(ctx: HttpContext, events: Sequence[BounceEvent]) -> Response:
    recorded = 0
    for event in events:
        result = await ctx.suppressor.apply(event)
        if result.recorded:
            recorded += 1
            ctx.metrics.bounces.labels(event.type.value, event.source).inc()
    return JSONResponse({"received": len(events), "recorded": recorded})


async def ses(request: Request) -> Response:
    ctx = context(request)
    cfg = ctx.settings.bounces
    if not (cfg.ses_enabled and cfg.ses_topic_arns):
        return _not_found()
    try:
        message = await _json(request)
        if not isinstance(message, dict):
            raise BadPayload("an SNS message is a JSON object")
        await ctx.sns.verify(message, cfg.ses_topic_arns)
    except BadPayload as exc:
        return _bad(str(exc))
    except SnsSignatureError as exc:
        log.warning("SES webhook: %s", exc, extra={"action": "webhook.rejected"})
        return PlainTextResponse("forbidden\n", status_code=403)
    except SnsUnavailable as exc:
        log.warning("SES webhook: %s", exc, extra={"action": "webhook.unavailable"})
        return PlainTextResponse(
            "temporarily unavailable, try again later\n",
            status_code=503,
            headers={"Retry-After": "300"},
        )
    topic = message.get("TopicArn")
    kind = message.get("Type")
    if kind == "SubscriptionConfirmation":
        log.warning(
            "SNS asks to confirm the subscription of topic %s: open this URL once to confirm: %s",
            topic,
            message.get("SubscribeURL"),
            extra={"action": "webhook.sns_subscribe"},
        )
        return JSONResponse({"received": 0, "recorded": 0})
    if kind != "Notification":
        return JSONResponse({"received": 0, "recorded": 0})
    try:
        inner = parse_json(message.get("Message") or "", "the SNS Message")
        if not isinstance(inner, dict):
            raise BadPayload("the SES notification is not a JSON object")
        events = parse_ses(inner)
    except BadPayload as exc:
        return _bad(str(exc))
    return await _apply(ctx, events)


def sendgrid_timestamp_ok(timestamp: str, now: dt.datetime) -> bool:
    """The signed timestamp (Unix seconds) is within SENDGRID_MAX_SKEW of `now`: an old signed
    request replayed later is refused."""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(now.timestamp() - int(timestamp)) <= SENDGRID_MAX_SKEW.total_seconds()


async def sendgrid(request: Request) -> Response:
    ctx = context(request)
    cfg = ctx.settings.bounces
    key = cfg.sendgrid_verification_key
    password = cfg.sendgrid_password.get_secret_value()
    if not key and not (cfg.sendgrid_username and password):
        return _not_found()
    body = await request.body()
    if key:
        signature = request.headers.get(SG_SIGNATURE, "")
        timestamp = request.headers.get(SG_TIMESTAMP, "")
        if not (signature and timestamp and sendgrid_signature_ok(key, body, signature, timestamp)):
            log.warning("SendGrid webhook: bad signature", extra={"action": "webhook.rejected"})
            return _unauthorized()
        if not sendgrid_timestamp_ok(timestamp, ctx.clock()):
            log.warning(
                "SendGrid webhook: signed more than %d minutes from now",
                SENDGRID_MAX_SKEW.total_seconds() // 60,
                extra={"action": "webhook.rejected"},
            )
            return _unauthorized()
    if password and not basic_auth_ok(request, cfg.sendgrid_username, password):
        return _unauthorized()
    try:
        events = parse_sendgrid(await _json(request))
    except BadPayload as exc:
        return _bad(str(exc))
    return await _apply(ctx, events)


async def postmark(request: Request) -> Response:
    ctx = context(request)
    cfg = ctx.settings.bounces
    password = cfg.postmark_password.get_secret_value()
    if not (cfg.postmark_username and password):
        return _not_found()
    if not basic_auth_ok(request, cfg.postmark_username, password):
        return _unauthorized()
    try:
        events = parse_postmark(await _json(request))
    except BadPayload as exc:
        return _bad(str(exc))
    return await _apply(ctx, events)
