"""Bounce handling: record a bounce or complaint, then unsubscribe or blocklist as [bounces] says.

``Suppressor.apply`` serves the webhooks (one report at a time). ``SendTimeBounces`` is the
engine's observer for send-time failures: it only queues (the send path never waits for it) and
one owned task writes the queue through the Suppressor.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from campaignd.bounces.rules import BounceEvent, BounceType, action_for, send_time_bounce
from campaignd.config import BounceAction, BounceSettings
from campaignd.domain import SendEvent, SubscriberStatus
from campaignd.errors import NotFound, StoreError
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

#: Send-time bounces waiting to be written are capped; past it the oldest are dropped (logged).
MAX_QUEUE = 10_000


@dataclass(frozen=True, slots=True)
class BounceResult:
    recorded: bool  # False: no subscriber has that address, or the event was a repeat
    count: int = 0  # the subscriber's bounces of this type, this one included
    action: BounceAction = BounceAction.NONE


class Suppressor:
    """Applies bounce events to the store."""

    def __init__(
        self, store: Store, settings: BounceSettings, clock: Callable[[], dt.datetime]
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    async def apply(self, event: BounceEvent) -> BounceResult:
        store = self.store
        try:
            if event.subscriber_id is not None:
                subscriber_id, email = event.subscriber_id, event.email
            else:
                found = await store.get_subscriber(event.email)
                subscriber_id, email = found.id, found.email
        except NotFound:
            log.info(
                "%s bounce from %s for an address that is not a subscriber",
                event.type.value,
                event.source,
                extra={"action": "bounce.unknown_address"},
            )
            return BounceResult(recorded=False)
        campaign_id = event.campaign_id
        if campaign_id is None and event.campaign_uuid is not None:
            try:
                campaign_id = (await store.get_campaign_by_uuid(event.campaign_uuid)).id
            except NotFound:
                campaign_id = None
        now = event.at or self.clock()
        count = await store.add_bounce(
            subscriber_id,
            campaign_id,
            event.type.value,
            event.source,
            event.reason,
            now,
            event.event_id,
        )
        if count is None:
            log.info(
                "%s event %s repeated (a webhook retry): already recorded",
                event.source,
                event.event_id,
                extra={"action": "bounce.duplicate", "campaign_id": campaign_id},
            )
            return BounceResult(recorded=False)
        action = action_for(event.type, count, self.settings)
        if action is BounceAction.BLOCKLIST:
            await store.set_subscriber_status(email, SubscriberStatus.BLOCKLISTED)
        elif action is BounceAction.UNSUBSCRIBE:
            await store.unsubscribe(subscriber_id, None)
        log.info(
            "%s bounce #%d of subscriber %d from %s: %s",
            event.type.value,
            count,
            subscriber_id,
            event.source,
            action.value,
            extra={"action": "bounce.recorded", "campaign_id": campaign_id},
        )
        return BounceResult(True, count, action)


class SendTimeBounces:
    """Engine observer: failed sends with a recipient-side reply become bounces."""

    def __init__(self, suppressor: Suppressor, *, retry_delay: float = 1.0) -> None:
        self.suppressor = suppressor
        self._queue: list[BounceEvent] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._retry_delay = retry_delay
        self.dropped = 0

    def __call__(self, event: SendEvent) -> None:
        kind: BounceType | None = send_time_bounce(event.record)
        if kind is None:
            return
        if len(self._queue) >= MAX_QUEUE:
            self._queue.pop(0)
            self.dropped += 1
        r = event.record
        reason = " ".join(str(p) for p in (r.code, r.text) if p)
        self._queue.append(
            BounceEvent(
                email=event.recipient.email,
                type=kind,
                source="smtp",
                reason=reason,
                campaign_id=event.campaign_id,
                subscriber_id=event.recipient.subscriber_id,
            )
        )
        self._wakeup.set()

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        """`run` returns once the queue is written."""
        self._closing = True
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                event = self._queue[0]
                if await self._apply(event):
                    self._queue.pop(0)
                elif self._closing:
                    return  # the database is down at shutdown: the ledger still has the reply
            if self._closing:
                return

    async def _apply(self, event: BounceEvent) -> bool:
        try:
            await self.suppressor.apply(event)
        except NotFound:
            return True  # the subscriber is gone: nothing to suppress
        except StoreError as exc:
            log.error(
                "cannot record a bounce, retrying: %s", exc, extra={"action": "bounce.write_failed"}
            )
            await asyncio.sleep(self._retry_delay)
            return False
        return True
