"""SIGHUP applies [bounces] at once: thresholds and actions, send-time bounces on/off, and the
webhooks' credentials; [http] itself waits for a restart and says so."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from campaignd.bounces.rules import BounceEvent, BounceType
from campaignd.bounces.suppression import SendTimeBounces
from campaignd.config import (
    BounceAction,
    BounceRule,
    BounceSettings,
    HttpSettings,
    SecuritySettings,
    Settings,
)
from campaignd.daemon.wiring import Extras
from campaignd.domain import NewSubscriber, OptIn, SubscriberStatus, SubscriptionStatus, utcnow
from campaignd.sending.engine import Engine
from campaignd.store.memory import MemoryStore


def settings(**bounces: Any) -> Settings:
    return Settings(
        security=SecuritySettings(secret=SecretStr("s" * 32)),
        bounces=BounceSettings(**bounces),
    )


async def world(first: Settings) -> tuple[MemoryStore, Engine, Extras]:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "")
    await store.add_subscriber(
        NewSubscriber("ann@example.com", "Ann"), [news.id], SubscriptionStatus.CONFIRMED
    )
    engine = Engine(store, first.app, "s" * 32, "test", {}, utcnow)
    return store, engine, Extras(first, store, engine, clock=utcnow)


def soft_bounce() -> BounceEvent:
    return BounceEvent(email="ann@example.com", type=BounceType.SOFT, source="smtp", reason="452")


async def test_new_thresholds_apply_to_the_next_bounce() -> None:
    store, _, extras = await world(settings())  # soft: 3 bounces, then unsubscribe
    await extras.suppressor.apply(soft_bounce())
    assert (await store.get_subscriber("ann@example.com")).status is SubscriberStatus.ENABLED

    later = extras.reload(settings(soft=BounceRule(count=2, action=BounceAction.BLOCKLIST)))
    assert later == []
    await extras.suppressor.apply(soft_bounce())  # the second: now over the threshold
    assert (await store.get_subscriber("ann@example.com")).status is SubscriberStatus.BLOCKLISTED


async def test_send_time_bounces_switch_off_and_on_without_a_restart() -> None:
    _, engine, extras = await world(settings())
    await extras.start()
    try:

        def observing() -> list[Any]:
            return [o for o in engine.observers if isinstance(o, SendTimeBounces)]

        assert len(observing()) == 1
        extras.reload(settings(enabled=False))
        assert observing() == [] and extras.bounces is None
        extras.reload(settings(enabled=True))
        assert len(observing()) == 1 and extras.bounces is observing()[0]
    finally:
        await extras.stop()
    assert all(t.done() for t in extras._bounce_tasks)


async def test_webhook_credentials_follow_and_http_changes_wait_for_a_restart() -> None:
    first = settings(postmark_username="hook", postmark_password=SecretStr("old"))
    first = first.model_copy(update={"http": HttpSettings(enabled=True)})
    _, _, extras = await world(first)
    assert extras._http_context is not None

    fresh = settings(postmark_username="hook", postmark_password=SecretStr("new"))
    fresh = fresh.model_copy(update={"http": HttpSettings(enabled=True, listen="127.0.0.1:9001")})
    assert extras.reload(fresh) == ["http"]
    bounces = extras._http_context.settings.bounces
    assert bounces.postmark_password.get_secret_value() == "new"
    assert extras._http_context.settings.http == first.http  # still bound to the old port
