"""A campaign runner's paced path: its recipients on [[domain_limits]] domains, without blocking.

``PacedSends`` is the part of campaignd.sending.runner's ``CampaignRunner`` used only when
[[domain_limits]] are configured: each send takes a slot, then the next recipient whose
domain group allows it (set aside ones first, campaignd.sending.waiting), then the global
limits; a recipient whose group cannot send yet is set aside instead of waited for. Each
outcome frees the group's place; a "too fast" reply pauses the group
(campaignd.sending.pacing) and defers the recipient to the end of the pause.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable

from campaignd.domain import DeliveryRecord, OutcomeKind, Recipient, SendOutcome
from campaignd.policy import decide, throttled
from campaignd.rendering.compose import CampaignMailer
from campaignd.replies import classify
from campaignd.sending.ending import Halt
from campaignd.sending.engine import Engine
from campaignd.sending.pacing import PaceGroup
from campaignd.sending.waiting import Waiting

log = logging.getLogger(__name__)


def paced_parts(engine: Engine) -> tuple[Waiting | None, float]:
    """A runner's recipients set aside (None without [[domain_limits]]) and `claim_after`."""
    return (Waiting(engine.pacer) if engine.pacer is not None else None), 0.0


class PacedSends:
    """The paced path of a campaign runner (a mixin of ``CampaignRunner``), and its claim
    size: no more rows than there is room to set aside."""

    engine: Engine
    halt: Halt
    campaign_id: int
    inflight: int
    drained: asyncio.Event
    waiting: Waiting | None
    claim_after: float  # loop time before which a claim that found nothing is not repeated

    async def _send(
        self, mailer: CampaignMailer, recipient: Recipient, group: PaceGroup | None = None
    ) -> None:
        raise NotImplementedError  # CampaignRunner's

    def _abandoned(self, task: asyncio.Task[None]) -> None:
        raise NotImplementedError  # CampaignRunner's

    async def _claim(self, pending: int = 0) -> list[Recipient]:
        """Claim a batch; with paced recipients set aside, no more than there is room for
        (`pending`: rows of the batch being sent that may be set aside too)."""
        engine = self.engine
        size = engine.claim_size()
        if self.waiting is not None:
            size = min(size, self.waiting.room(pending))
            if size <= 0:
                return []
        batch = await engine.store.claim_batch(self.campaign_id, engine.owner, size, engine.clock())
        if engine.pacer is not None and engine.pacer.mx is not None:
            await engine.pacer.prepare(batch, self._now())  # MX look-ups, before it is sent
        return batch

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _may_claim(self, waiting: Waiting) -> bool:
        """Claim more while recipients are set aside? Only with room for them, and not again
        within a poll interval of a claim that found nothing."""
        return waiting.room() > 0 and self._now() >= self.claim_after

    async def _send_paced(
        self,
        tg: asyncio.TaskGroup,
        mailer: CampaignMailer,
        waiting: Waiting,
        batch: Iterable[Recipient],
    ) -> bool:
        """Send `batch` and the recipients set aside as their domain groups allow, setting
        aside those whose group cannot send now. False when the runner stops."""
        engine, halt = self.engine, self.halt
        rows = iter(batch)
        while True:
            await engine.slots.acquire()
            if halt.stopped():
                engine.slots.release()
                return False
            picked = waiting.pick(rows, self._now())
            if picked is None:
                engine.slots.release()
                return True
            recipient, group = picked
            await engine.rate.acquire()
            if engine.window is not None:
                await engine.window.acquire()
            self.inflight += 1
            engine.in_flight += 1
            self.drained.clear()
            task = tg.create_task(self._send(mailer, recipient, group))
            task.add_done_callback(
                self._abandoned if group is None else self._abandoned_paced(group)
            )

    async def _send_waiting(
        self, tg: asyncio.TaskGroup, mailer: CampaignMailer, waiting: Waiting
    ) -> bool:
        """No more claims for now: wait until a recipient set aside may go, then send those
        that may. False when the runner stops."""
        delay = min(waiting.ready_in(self._now()), self.engine.app.poll_interval, 1.0)
        if delay > 0:
            await self.engine.paced.wait(delay)
        if self.halt.stopped():
            return False
        return await self._send_paced(tg, mailer, waiting, ())

    def _release(self, group: PaceGroup) -> None:
        """A paced message ended without an SMTP outcome (not built, or torn down)."""
        group.done(self._now(), sent=False, throttled=False)
        self.engine.paced.notify()

    def _abandoned_paced(self, group: PaceGroup) -> Callable[[asyncio.Task[None]], None]:
        def abandoned(task: asyncio.Task[None]) -> None:
            if task.cancelled() or task.exception() is not None:
                self._release(group)
            self._abandoned(task)

        return abandoned

    def _decide_paced(
        self,
        group: PaceGroup,
        recipient: Recipient,
        outcome: SendOutcome,
        message_id: str,
        now: dt.datetime,
    ) -> DeliveryRecord:
        """The ledger row of a paced recipient's outcome; a "too fast" reply pauses its group
        and defers the recipient to the end of the pause (no attempt used, no send error)."""
        engine = self.engine
        too_fast = (
            outcome.kind is OutcomeKind.TRANSIENT
            and not outcome.connection_error
            and classify(outcome.code, outcome.text).throttled
        )
        pause = group.done(self._now(), sent=outcome.kind is OutcomeKind.SENT, throttled=too_fast)
        engine.paced.notify()
        if pause is None:
            return decide(recipient, outcome, message_id, engine.retry_policy, now, engine.rng)
        if pause.fresh:
            log.warning(
                "domain group %s asks to slow down (%s %s): pausing it for %.3gs",
                group.label,
                outcome.code or "",
                outcome.text,
                pause.seconds,
                extra={"action": "pacing.backoff", "campaign_id": self.campaign_id},
            )
        retry_at = now + dt.timedelta(seconds=pause.until - self._now())
        return throttled(recipient, outcome, message_id, retry_at)
