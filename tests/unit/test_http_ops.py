"""Bounce rules (pure), /healthz and /metrics through the ASGI app."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from campaignd.bounces.rules import BounceType, action_for, parse_campaignd_id, send_time_bounce
from campaignd.config import BounceAction, BounceRule, BounceSettings, SecuritySettings, Settings
from campaignd.domain import (
    CampaignStatus,
    DeliveryRecord,
    DeliveryStatus,
    NewCampaign,
    OptIn,
    OutcomeKind,
    Recipient,
    SendEvent,
    SendOutcome,
)
from campaignd.errors import StoreError
from campaignd.http.app import create_app
from campaignd.http.metrics import Metrics
from campaignd.store.memory import MemoryStore


def record(status: DeliveryStatus, code: int | None, text: str) -> DeliveryRecord:
    return DeliveryRecord(1, status, 1, code, None, text, "smtp1", "<m@x>")


FAILED = DeliveryStatus.FAILED


@pytest.mark.parametrize(
    ("status", "code", "text", "expected"),
    [
        (FAILED, 550, "5.1.1 <a@x>: Recipient address rejected: User unknown", BounceType.HARD),
        (FAILED, 550, "Requested action not taken: mailbox unavailable", BounceType.HARD),
        (FAILED, 553, "5.1.3 bad recipient address syntax", BounceType.HARD),
        (FAILED, 552, "5.2.2 mailbox full", BounceType.SOFT),
        (FAILED, 452, "4.2.2 mailbox full", BounceType.SOFT),  # transient attempts exhausted
        (FAILED, 550, "5.7.1 message rejected as spam", None),  # our message, not the address
        (FAILED, 554, "5.7.1 relay access denied", None),
        (FAILED, 535, "5.7.8 authentication failed", None),
        (FAILED, 451, "4.4.1 connection timed out", None),
        (FAILED, None, "message not built: template error", None),
        (DeliveryStatus.DEFERRED, 452, "4.2.2 mailbox full", None),  # not final yet
        (DeliveryStatus.SENT, 250, "2.0.0 ok", None),
    ],
)
def test_send_time_bounce(
    status: DeliveryStatus, code: int | None, text: str, expected: BounceType | None
) -> None:
    assert send_time_bounce(record(status, code, text)) is expected


def test_send_time_bounce_uses_the_enhanced_code_kept_apart() -> None:
    r = DeliveryRecord(1, FAILED, 1, 550, "5.2.2", "mailbox full", None, "<m@x>")
    assert send_time_bounce(r) is BounceType.SOFT


def test_actions_follow_the_counts() -> None:
    cfg = BounceSettings(
        soft=BounceRule(count=3, action=BounceAction.UNSUBSCRIBE),
        hard=BounceRule(count=2, action=BounceAction.BLOCKLIST),
        complaint=BounceRule(count=1, action=BounceAction.NONE),
    )
    soft = [action_for(BounceType.SOFT, n, cfg) for n in (1, 2, 3, 4)]
    assert soft == [BounceAction.NONE, BounceAction.NONE] + [BounceAction.UNSUBSCRIBE] * 2
    assert action_for(BounceType.HARD, 1, cfg) is BounceAction.NONE
    assert action_for(BounceType.HARD, 2, cfg) is BounceAction.BLOCKLIST
    assert action_for(BounceType.COMPLAINT, 5, cfg) is BounceAction.NONE


def test_bounce_settings_from_toml_shapes() -> None:
    cfg = Settings.model_validate({"bounces": {"soft": {"count": "5", "action": "BLOCKLIST"}}})
    assert cfg.bounces.soft == BounceRule(count=5, action=BounceAction.BLOCKLIST)
    assert cfg.bounces.hard.action is BounceAction.BLOCKLIST  # defaults kept
    with pytest.raises(ValueError, match="action"):
        Settings.model_validate({"bounces": {"soft": {"action": "explode"}}})


def test_campaignd_id_header() -> None:
    c, s = uuid.uuid4(), uuid.uuid4()
    assert parse_campaignd_id(f" {c}.{s} ") == (c, s)
    for bad in (f"{c}", f"{c}.{s}.x", "x.y", None, 42):
        assert parse_campaignd_id(bad) is None


# -- /healthz and /metrics ---------------------------------------------------------------------

SECRET = Settings(security=SecuritySettings(secret=SecretStr("k" * 32)))


class _DownStore(MemoryStore):
    async def check_schema(self) -> None:
        raise StoreError("database error on postgresql://u:hunter2@db/x")


async def _get(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


async def test_healthz() -> None:
    alive = [True]
    app = create_app(MemoryStore(), SECRET, scheduler_alive=lambda: alive[0])
    r = await _get(app, "/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok", "database": "ok", "scheduler": "ok"})
    alive[0] = False
    r = await _get(app, "/healthz")
    assert r.status_code == 503 and r.json()["scheduler"] == "stalled"
    r = await _get(create_app(_DownStore(), SECRET), "/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "database": "unavailable"}
    assert "hunter2" not in r.text


def _event(messenger: str, status: DeliveryStatus, server: str, seconds: float) -> SendEvent:
    recipient = Recipient(1, 1, 1, uuid.uuid4(), "a@x.com", "", {}, 0)
    outcome = SendOutcome(OutcomeKind.SENT, server=server)
    rec = DeliveryRecord(1, status, 1, 250, None, "", server, "<m>")
    return SendEvent(1, messenger, recipient, outcome, rec, seconds)


async def test_metrics_count_sends_by_messenger_and_server_and_campaigns_by_status() -> None:
    store = MemoryStore()
    await store.create_list("news", OptIn.SINGLE, "")
    for name in ("a", "b"):
        await store.create_campaign(
            NewCampaign(name=name, subject="s", from_email="x@x.com", body="b", lists=("news",)),
            None,
        )
    await store.transition(1, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=_now())
    metrics = Metrics()
    for _ in range(3):
        metrics.observe(_event("email", DeliveryStatus.SENT, "smtp1:25", 0.02))
    metrics.observe(_event("email", DeliveryStatus.FAILED, "smtp2:25", 0.3))
    metrics.observe(_event("ses", DeliveryStatus.DEFERRED, "ses", 1.5))
    r = await _get(create_app(store, SECRET, metrics=metrics), "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    lines = set(r.text.splitlines())
    assert 'campaignd_messages_sent_total{messenger="email",server="smtp1:25"} 3.0' in lines
    assert (
        'campaignd_messages_failed_total{messenger="email",server="smtp2:25",status="failed"} 1.0'
        in lines
    )
    assert (
        'campaignd_messages_failed_total{messenger="ses",server="ses",status="deferred"} 1.0'
        in lines
    )
    assert 'campaignd_send_duration_seconds_count{messenger="email"} 4.0' in lines
    assert 'campaignd_send_duration_seconds_bucket{le="0.025",messenger="email"} 3.0' in lines
    assert 'campaignd_campaigns{status="running"} 1.0' in lines
    assert 'campaignd_campaigns{status="draft"} 1.0' in lines
    assert "campaignd_rate_limit_wait_seconds_total 0.0" in lines


def _now() -> dt.datetime:
    return dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
