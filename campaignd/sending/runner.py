"""One running campaign's sender: the claim loop and the per-message send path.

A ``CampaignRunner`` claims its campaign's ledger rows in batches (the next batch while this one
is sent), takes a slot, the rate limit and the sliding window per message, builds and sends it,
and hands the outcome to the engine's recorder. Its watcher and claim renewal are in
campaignd.sending.claims, the ledger's chunked filling in campaignd.sending.ledgerfill, its
pause decisions and finishing in campaignd.sending.ending. This path sends thousands of
messages a second: per message it only awaits the slot, the limits, the build and the send.
With [[domain_limits]] (campaignd.sending.pacing) a recipient whose domain group cannot send
yet is set aside (campaignd.sending.waiting) and the next one is sent: no domain holds up
another; without them the paced path is never entered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from campaignd.domain import (
    Campaign,
    CampaignStatus,
    DeliveryRecord,
    DeliveryStatus,
    OutcomeKind,
    Recipient,
    SendEvent,
    SendOutcome,
    Tally,
)
from campaignd.errors import CampaigndError, StoreError, TemplateError
from campaignd.policy import Unreachable, decide, render_failure
from campaignd.rendering.compose import CampaignMailer
from campaignd.sending import ending
from campaignd.sending.claims import watch
from campaignd.sending.ending import Halt
from campaignd.sending.engine import Engine
from campaignd.sending.ledgerfill import LedgerFill
from campaignd.sending.paced import PacedSends, paced_parts
from campaignd.sending.pacing import PaceGroup

log = logging.getLogger(__name__)


class CampaignRunner(PacedSends):
    """Sends one running campaign until it is finished, paused, cancelled or the daemon stops."""

    def __init__(self, engine: Engine, campaign_id: int, stopping: asyncio.Event) -> None:
        self.engine = engine
        self.campaign_id = campaign_id
        self.halt = Halt(stopping)
        self.ledger = LedgerFill(engine, campaign_id, self.halt)
        self.tally = Tally()
        self.inflight = 0
        self.drained = asyncio.Event()
        self.drained.set()
        self.started = asyncio.get_running_loop().time()
        self.last_error = ""
        self.render_failures = 0  # messages in a row that could not be built
        self.messenger_name = ""
        self.unreachable = Unreachable("", engine.app.pause_after_unreachable)
        self.claiming: asyncio.Task[list[Recipient]] | None = None  # the next batch's claim
        self.waiting, self.claim_after = paced_parts(engine)

    @property
    def total(self) -> int:
        """Recipients to send, for progress lines."""
        return self.ledger.total

    # -- the loop ------------------------------------------------------------------------
    async def run(self) -> None:
        engine, store = self.engine, self.engine.store
        campaign = await store.get_campaign(self.campaign_id)
        if campaign.status is not CampaignStatus.RUNNING:
            return
        self.messenger_name = self.unreachable.messenger = campaign.messenger
        mailer = await _prepare(engine, campaign)
        if mailer is None:
            return
        if campaign.messenger not in engine.messengers:
            await ending.pause(
                engine, self.campaign_id, f"messenger {campaign.messenger!r} is not configured"
            )
            return
        # A runner of this campaign that failed earlier may have left claims of ours behind.
        await store.release_claims(engine.owner, self.campaign_id)
        # A large campaign's ledger is filled in chunks of subscriber ids: sending starts after
        # the first chunk while a background task adds the rest.
        await self.ledger.first_chunk(campaign)
        engine.recorder.listen(self.campaign_id, self._committed)
        watcher = asyncio.create_task(
            watch(engine, self.campaign_id, self.halt), name=f"watch-{self.campaign_id}"
        )
        self.ledger.fill_rest()
        try:
            async with asyncio.TaskGroup() as tg:
                await self._loop(tg, mailer)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await self._wind_down()
        if self.halt.reason is not None:
            await ending.pause(engine, self.campaign_id, self.halt.reason)

    async def _wind_down(self) -> None:
        """Stop filling the ledger, wait for the messages in flight, release unsent claims."""
        engine = self.engine
        await self.ledger.cancel()
        await self.drained.wait()
        if self.claiming is not None:
            # Let a claim in progress finish, so the rows it took are released below with
            # the rest of this runner's claims instead of waiting for a restart.
            await asyncio.gather(self.claiming, return_exceptions=True)
            self.claiming = None
        engine.recorder.unlisten(self.campaign_id)
        if self.waiting is not None:
            self.waiting.clear()  # their claims are released with the rest, just below
        released = await engine.store.release_claims(engine.owner, self.campaign_id)
        if released:
            log.debug("released %d unsent claims", released, extra={"action": "ledger.release"})

    async def _loop(self, tg: asyncio.TaskGroup, mailer: CampaignMailer) -> None:
        engine, halt = self.engine, self.halt
        db_failing = False
        waiting = self.waiting
        while not halt.stopped():
            try:
                if self.claiming is None:
                    if waiting is not None and waiting.count and not self._may_claim(waiting):
                        if not await self._send_waiting(tg, mailer, waiting):
                            return
                        continue
                    self.claiming = asyncio.create_task(self._claim())
                # Shielded: if this runner is torn down, run() still waits for the claim.
                batch = await asyncio.shield(self.claiming)
                self.claiming = None
                if not batch:
                    if waiting is not None and waiting.count:
                        # Nothing more to claim now: send the recipients set aside.
                        self.claim_after = self._now() + engine.app.poll_interval
                        continue
                    if await self._finish_or_wait():
                        return
                    continue
            except StoreError as exc:
                self.claiming = None
                # The database is away: keep what is in flight, wait and try again.
                if not db_failing:
                    _claim_failed(self.campaign_id, exc)
                db_failing = True
                await halt.sleep(max(engine.app.poll_interval, 0.05))
                continue
            if db_failing:
                db_failing = False
                log.info("campaign %d: claiming again", self.campaign_id, extra={"action": "db.ok"})
            if (
                engine.claims_ahead()
                and not halt.stopped()
                and (waiting is None or waiting.room(len(batch)) > 0)
            ):
                # Claim the next batch while this one is sent: a claim of 1,000 rows takes
                # ~20 ms on SQLite and ~100 ms on PostgreSQL, longer than the messages in
                # flight last, so claiming between batches left the connections idle.
                self.claiming = asyncio.create_task(self._claim(len(batch)))
            if waiting is None:
                sending = self._send_batch(tg, mailer, batch)
            else:
                sending = self._send_paced(tg, mailer, waiting, batch)
            if not await sending:
                return

    async def _send_batch(
        self, tg: asyncio.TaskGroup, mailer: CampaignMailer, batch: list[Recipient]
    ) -> bool:
        """Send a claimed batch (no [[domain_limits]]): a slot, the limits, then the send of
        each in turn. False when the runner stops."""
        engine, halt = self.engine, self.halt
        for i, recipient in enumerate(batch):
            await engine.slots.acquire()
            if halt.stopped():
                engine.slots.release()
                log.debug(
                    "stopping with %d claimed rows unsent",
                    len(batch) - i,
                    extra={"action": "engine"},
                )
                return False
            await engine.rate.acquire()
            if engine.window is not None:
                await engine.window.acquire()
            self.inflight += 1
            engine.in_flight += 1
            self.drained.clear()
            tg.create_task(self._send(mailer, recipient)).add_done_callback(self._abandoned)
        return True

    async def _finish_or_wait(self) -> bool:
        """Nothing claimable: finish if nothing is left, else wait. True when done."""
        if self.inflight:
            await self.drained.wait()
            return False
        if not self.ledger.complete:
            return await self.ledger.wait_for_more()
        return await ending.finish_or_wait(self.engine, self.campaign_id, self.halt)

    def _abandoned(self, task: asyncio.Task[None]) -> None:
        """A send torn down before its outcome was submitted (forced stop, or the runner failed):
        its row stays claimed, recovered like after a crash; free its slot so nothing waits."""
        if task.cancelled() or task.exception() is not None:
            self.engine.slots.release()
            self.inflight -= 1
            self.engine.in_flight -= 1
            if self.inflight <= 0:
                self.drained.set()

    # -- one message ---------------------------------------------------------------------
    async def _send(
        self, mailer: CampaignMailer, recipient: Recipient, group: PaceGroup | None = None
    ) -> None:
        engine = self.engine
        record: DeliveryRecord
        message_id = ""
        outcome: SendOutcome | None = None
        started = 0.0
        try:
            message_id, data = await mailer.build_async(recipient, engine.clock())
        except (TemplateError, CampaigndError) as exc:
            record = render_failure(recipient, message_id or mailer.message_id(recipient), str(exc))
            if group is not None:
                self._release(group)
            self.render_failures += 1
            reason = ending.render_failures(
                self.render_failures, engine.app.max_render_failures, str(exc)
            )
            if reason is not None:
                self.halt.pause(reason)
        else:
            self.render_failures = 0
            messenger = engine.messengers.get(self.messenger_name)
            if messenger is None:
                outcome = SendOutcome(
                    OutcomeKind.TRANSIENT, text="messenger not configured", connection_error=True
                )
            else:
                started = time.perf_counter()
                try:
                    sender = mailer.envelope_sender(recipient)
                    outcome = await messenger.send(sender, [recipient.email], data, mailer.sign)
                except Exception as exc:  # a messenger must not raise; never lose the recipient
                    log.exception("messenger raised", extra={"action": "send.bug"})
                    outcome = SendOutcome(OutcomeKind.TRANSIENT, text=f"internal error: {exc}")
            if outcome.auth_failed:
                self.halt.pause(ending.auth_failure(outcome))
            now = engine.clock()
            if group is None:
                record = decide(
                    recipient, outcome, message_id, engine.retry_policy, now, engine.rng
                )
            else:
                record = self._decide_paced(group, recipient, outcome, message_id, now)
            unreachable = self.unreachable.observe(outcome, now)
            if unreachable is not None:
                self.halt.pause(unreachable)  # its recipients stay deferred, for a resume
            if record.status is not DeliveryStatus.SENT:
                self.last_error = _not_sent(self.campaign_id, recipient, record, outcome)
        if engine.observers:
            seconds = time.perf_counter() - started if started else 0.0
            event = SendEvent(
                self.campaign_id, self.messenger_name, recipient, outcome, record, seconds
            )
            _observe(engine, event)
        engine.recorder.submit(self.campaign_id, record)

    def _committed(self, campaign_id: int, records: Sequence[DeliveryRecord], errors: int) -> None:
        """The recorder committed a group of this campaign's outcomes (once per group)."""
        self.tally.add(records)
        self.engine.tally.add(records)
        self.inflight -= len(records)
        self.engine.in_flight -= len(records)
        if self.inflight <= 0:
            self.drained.set()
        reason = ending.send_errors(errors, self.engine.app.max_send_errors, self.last_error)
        if reason is not None:
            self.halt.pause(reason)


async def _prepare(engine: Engine, campaign: Campaign) -> CampaignMailer | None:
    """The campaign's mailer, compiled once; None (and the campaign paused) if it cannot be."""
    try:
        layout = (
            await engine.store.get_template_by_id(campaign.template_id)
            if campaign.template_id is not None
            else None
        )
        return CampaignMailer.prepare(
            campaign,
            layout,
            engine.app,
            engine.secret,
            engine.return_path,
            engine.tracking,
            engine.dkim,
        )
    except CampaigndError as exc:
        await ending.pause(engine, campaign.id, f"campaign cannot be prepared: {exc}")
        return None


def _observe(engine: Engine, event: SendEvent) -> None:
    """Hand a send's event to the engine's observers (metrics, send-time bounces)."""
    for observe in engine.observers:
        try:
            observe(event)
        except Exception:  # an observer must never cost a recipient
            log.exception("send observer failed", extra={"action": "send.observer"})


def _claim_failed(campaign_id: int, exc: StoreError) -> None:
    log.error(
        "campaign %d: cannot claim recipients, retrying: %s",
        campaign_id,
        exc,
        extra={"action": "db.error", "campaign_id": campaign_id},
    )


def _not_sent(
    campaign_id: int, recipient: Recipient, record: DeliveryRecord, outcome: SendOutcome
) -> str:
    """Log a message that was not sent (at DEBUG); return its error for pause reasons."""
    error = f"{outcome.code or ''} {outcome.text}".strip()
    log.debug(
        "send to %s: %s %s",
        recipient.email,
        record.status.value,
        error,
        extra={"action": "send.failed", "campaign_id": campaign_id},
    )
    return error
