"""The sending engine: claim ledger rows, render, pace, send, record, for each running campaign.

One ``Engine`` per daemon holds what campaigns share: the in-flight slots (``concurrency``),
the daemon-wide rate limit and sliding window, and the ledger recorder. One ``CampaignRunner``
per running campaign claims its rows in batches and sends each through the campaign's
messenger. Runners wait for slots in FIFO order, so running campaigns share capacity fairly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from campaignd.config import AppSettings
from campaignd.domain import (
    Campaign,
    CampaignStatus,
    DeliveryRecord,
    DeliveryStatus,
    OutcomeKind,
    Recipient,
    SendEvent,
    SendObserver,
    SendOutcome,
    Tally,
)
from campaignd.errors import CampaigndError, StoreError, TemplateError, TransitionRefused
from campaignd.messengers.protocol import Messenger
from campaignd.policy import RetryPolicy, Unreachable, decide, render_failure
from campaignd.ratelimit import RateLimiter, SlidingWindow
from campaignd.rendering.compose import CampaignMailer
from campaignd.sending.recorder import Recorder
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

# Subscriber ids per ledger chunk: the first is small so the first message leaves quickly.
FIRST_CHUNK = 10_000
CHUNK = 50_000
# The longest an outcome waits for others to share its ledger commit.
RECORD_LINGER_S = 0.01
# A daemon starting up takes claims older than this for a dead daemon's and sends them again.
CLAIM_LEASE = dt.timedelta(minutes=10)
# How often a runner marks its claims as alive, far inside the lease: a claim can wait longer
# than the lease behind a slow message rate or a sliding window.
CLAIM_RENEW_S = 60.0


@dataclass
class Engine:
    """What every campaign runner of one daemon shares."""

    store: Store
    app: AppSettings
    secret: str
    owner: str
    messengers: dict[str, Messenger]
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)
    return_path: str = ""  # [bounces] return_path: VERP envelope senders when set
    slots: asyncio.Semaphore = field(init=False)
    rate: RateLimiter = field(init=False)
    window: SlidingWindow | None = field(init=False)
    retry_policy: RetryPolicy = field(init=False)
    recorder: Recorder = field(init=False)
    tally: Tally = field(default_factory=Tally)
    in_flight: int = 0
    observers: list[SendObserver] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.app.concurrency)
        # Outcomes are committed in groups of a quarter of the slots (or after 10 ms): a commit
        # of one outcome costs nearly as much as one of 25 (see campaignd.sending.recorder).
        self.recorder = Recorder(
            self.store,
            self.slots,
            self.clock,
            group=max(1, self.app.concurrency // 4),
            linger=RECORD_LINGER_S,
        )
        self.apply_rates(self.app)

    def apply_rates(self, app: AppSettings) -> None:
        """(Re)build the daemon-wide limits, e.g. after a settings reload."""
        self.app = app
        self.rate = RateLimiter(app.message_rate)
        self.window = (
            SlidingWindow(app.sliding_window_rate, app.sliding_window_duration)
            if app.sliding_window
            else None
        )
        self.retry_policy = RetryPolicy(app.max_attempts, app.retry_backoff)

    def claim_size(self) -> int:
        """Rows per claim: a batch, but no more than ~10 s of sending at the configured rate,
        so claims stay short-lived when several daemons share a database."""
        size = self.app.batch_size
        if self.app.message_rate:
            size = min(size, max(self.app.concurrency * 2, int(self.app.message_rate * 10)))
        return max(1, size)

    def claims_ahead(self) -> bool:
        """Claim the next batch while this one is sent? Only when a batch leaves within ~10 s
        (no message rate, or one that sends a whole claim in 10 s) and no sliding window can
        hold sending back: rows claimed far ahead are kept from other daemons sharing the
        database, and a slow campaign gains nothing from them."""
        if self.window is not None:
            return False
        rate = self.app.message_rate
        return not rate or self.claim_size() <= rate * 10


class CampaignRunner:
    """Sends one running campaign until it is finished, paused, cancelled or the daemon stops."""

    def __init__(self, engine: Engine, campaign_id: int, stopping: asyncio.Event) -> None:
        self.engine = engine
        self.campaign_id = campaign_id
        self.daemon_stopping = stopping
        self.stop = asyncio.Event()
        self.tally = Tally()
        self.inflight = 0
        self.drained = asyncio.Event()
        self.drained.set()
        self.total = 0
        self.pause_reason: str | None = None
        self.started = asyncio.get_running_loop().time()
        self.last_error = ""
        self.render_failures = 0  # messages in a row that could not be built
        self.messenger_name = ""
        self.unreachable = Unreachable("", engine.app.pause_after_unreachable)
        self.populating: asyncio.Task[None] | None = None
        self.claiming: asyncio.Task[list[Recipient]] | None = None  # the next batch's claim
        self.ledger_complete = False  # every eligible subscriber has its ledger row

    # -- the loop ------------------------------------------------------------------------
    async def run(self) -> None:
        engine, store = self.engine, self.engine.store
        campaign = await store.get_campaign(self.campaign_id)
        if campaign.status is not CampaignStatus.RUNNING:
            return
        self.messenger_name = self.unreachable.messenger = campaign.messenger
        mailer = await self._prepare(campaign)
        if mailer is None:
            return
        if campaign.messenger not in engine.messengers:
            await self._pause(f"messenger {campaign.messenger!r} is not configured")
            return
        # A runner of this campaign that failed earlier may have left claims of ours behind.
        await store.release_claims(engine.owner, self.campaign_id)
        # A large campaign's ledger is filled in chunks of subscriber ids: sending starts after
        # the first chunk while a background task adds the rest (see _populate_rest).
        last_id = await store.last_subscriber_id()
        upto = min(last_id, FIRST_CHUNK)
        added = await store.populate_ledger(self.campaign_id, engine.clock(), upto=upto)
        counts = await store.counts(self.campaign_id)
        self.total = counts.to_send
        more = upto < last_id
        self.ledger_complete = not more
        log.info(
            "campaign %d %r: sending to %d recipients (%d new in ledger, %d already done%s)",
            campaign.id,
            campaign.name,
            counts.remaining,
            added,
            counts.to_send - counts.remaining,
            f", adding subscribers {upto + 1}-{last_id} while sending" if more else "",
            extra={"action": "campaign.sending", "campaign_id": campaign.id},
        )
        engine.recorder.listen(self.campaign_id, self._committed)
        watcher = asyncio.create_task(self._watch(), name=f"watch-{self.campaign_id}")
        if more:
            self.populating = asyncio.create_task(
                self._populate_rest(upto, last_id), name=f"populate-{self.campaign_id}"
            )
        try:
            async with asyncio.TaskGroup() as tg:
                await self._loop(tg, mailer)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            if self.populating is not None:
                self.populating.cancel()
                await asyncio.gather(self.populating, return_exceptions=True)
            await self._wait_drained()
            if self.claiming is not None:
                # Let a claim in progress finish, so the rows it took are released below with
                # the rest of this runner's claims instead of waiting for a restart.
                await asyncio.gather(self.claiming, return_exceptions=True)
                self.claiming = None
            engine.recorder.unlisten(self.campaign_id)
            released = await store.release_claims(engine.owner, self.campaign_id)
            if released:
                log.debug("released %d unsent claims", released, extra={"action": "ledger.release"})
        if self.pause_reason is not None:
            await self._pause(self.pause_reason)

    async def _loop(self, tg: asyncio.TaskGroup, mailer: CampaignMailer) -> None:
        engine = self.engine
        db_failing = False
        while not self._stopped():
            try:
                if self.claiming is None:
                    self.claiming = asyncio.create_task(self._claim())
                # Shielded: if this runner is torn down, run() still waits for the claim.
                batch = await asyncio.shield(self.claiming)
                self.claiming = None
                if not batch:
                    if await self._finish_or_wait():
                        return
                    continue
            except StoreError as exc:
                self.claiming = None
                # The database is away: keep what is in flight, wait and try again.
                if not db_failing:
                    log.error(
                        "campaign %d: cannot claim recipients, retrying: %s",
                        self.campaign_id,
                        exc,
                        extra={"action": "db.error", "campaign_id": self.campaign_id},
                    )
                db_failing = True
                await self._sleep(max(engine.app.poll_interval, 0.05))
                continue
            if db_failing:
                db_failing = False
                log.info("campaign %d: claiming again", self.campaign_id, extra={"action": "db.ok"})
            if engine.claims_ahead() and not self._stopped():
                # Claim the next batch while this one is sent: a claim of 1,000 rows takes
                # ~20 ms on SQLite and ~100 ms on PostgreSQL, longer than the messages in
                # flight last, so claiming between batches left the connections idle.
                self.claiming = asyncio.create_task(self._claim())
            for i, recipient in enumerate(batch):
                await engine.slots.acquire()
                if self._stopped():
                    engine.slots.release()
                    log.debug("stopping with %d claimed rows unsent", len(batch) - i)
                    return
                await engine.rate.acquire()
                if engine.window is not None:
                    await engine.window.acquire()
                self.inflight += 1
                engine.in_flight += 1
                self.drained.clear()
                tg.create_task(self._send(mailer, recipient)).add_done_callback(self._abandoned)

    async def _claim(self) -> list[Recipient]:
        engine = self.engine
        return await engine.store.claim_batch(
            self.campaign_id, engine.owner, engine.claim_size(), engine.clock()
        )

    def _abandoned(self, task: asyncio.Task[None]) -> None:
        """A send torn down before its outcome was submitted (forced stop, or the runner failed):
        its row stays claimed, recovered like after a crash; free its slot so nothing waits."""
        if task.cancelled() or task.exception() is not None:
            self.engine.slots.release()
            self.inflight -= 1
            self.engine.in_flight -= 1
            if self.inflight <= 0:
                self.drained.set()

    async def _send(self, mailer: CampaignMailer, recipient: Recipient) -> None:
        engine = self.engine
        record: DeliveryRecord
        message_id = ""
        outcome: SendOutcome | None = None
        started = 0.0
        try:
            message_id, data = await mailer.build_async(recipient, engine.clock())
        except (TemplateError, CampaigndError) as exc:
            record = render_failure(recipient, message_id or mailer.message_id(recipient), str(exc))
            self._render_failed(str(exc))
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
                    outcome = await messenger.send(sender, [recipient.email], data)
                except Exception as exc:  # a messenger must not raise; never lose the recipient
                    log.exception("messenger raised", extra={"action": "send.bug"})
                    outcome = SendOutcome(OutcomeKind.TRANSIENT, text=f"internal error: {exc}")
            if outcome.auth_failed and self.pause_reason is None:
                where = f" on {outcome.server}" if outcome.server else ""
                code = f"{outcome.code} " if outcome.code else ""
                self.pause_reason = f"authentication failed{where}: {code}{outcome.text}"
                self.stop.set()
            now = engine.clock()
            record = decide(recipient, outcome, message_id, engine.retry_policy, now, engine.rng)
            unreachable = self.unreachable.observe(outcome, now)
            if unreachable is not None and self.pause_reason is None:
                self.pause_reason = unreachable  # its recipients stay deferred, for a resume
                self.stop.set()
            if record.status is not DeliveryStatus.SENT:
                self.last_error = f"{outcome.code or ''} {outcome.text}".strip()
                log.debug(
                    "send to %s: %s %s",
                    recipient.email,
                    record.status.value,
                    self.last_error,
                    extra={"action": "send.failed", "campaign_id": self.campaign_id},
                )
        if engine.observers:
            seconds = time.perf_counter() - started if started else 0.0
            event = SendEvent(
                self.campaign_id, self.messenger_name, recipient, outcome, record, seconds
            )
            for observe in engine.observers:
                try:
                    observe(event)
                except Exception:  # an observer must never cost a recipient
                    log.exception("send observer failed", extra={"action": "send.observer"})
        engine.recorder.submit(self.campaign_id, record)

    def _render_failed(self, error: str) -> None:
        """After app.max_render_failures messages in a row could not be built, pause: the
        template fails everyone (a limit, a bomb, a broken expression); the recipients not
        yet tried stay pending for a resume after the template is fixed."""
        self.render_failures += 1
        limit = self.engine.app.max_render_failures
        if limit and self.render_failures >= limit and self.pause_reason is None:
            self.pause_reason = (
                f"{self.render_failures} messages in a row could not be built "
                f"(max_render_failures={limit}); last: {error}"
            )
            self.stop.set()

    def _committed(self, campaign_id: int, records: Sequence[DeliveryRecord], errors: int) -> None:
        self.tally.add(records)
        self.engine.tally.add(records)
        self.inflight -= len(records)
        self.engine.in_flight -= len(records)
        if self.inflight <= 0:
            self.drained.set()
        limit = self.engine.app.max_send_errors
        if limit and errors >= limit and self.pause_reason is None:
            self.pause_reason = f"{errors} send errors (max_send_errors={limit}); last: " + (
                self.last_error or "unknown"
            )
            self.stop.set()

    # -- helpers ---------------------------------------------------------------------------
    def _stopped(self) -> bool:
        return self.stop.is_set() or self.daemon_stopping.is_set()

    async def _prepare(self, campaign: Campaign) -> CampaignMailer | None:
        store = self.engine.store
        try:
            layout = (
                await store.get_template_by_id(campaign.template_id)
                if campaign.template_id is not None
                else None
            )
            return CampaignMailer.prepare(
                campaign, layout, self.engine.app, self.engine.secret, self.engine.return_path
            )
        except CampaigndError as exc:
            await self._pause(f"campaign cannot be prepared: {exc}")
            return None

    async def _populate_rest(self, after: int, last_id: int) -> None:
        """Add the ledger rows of subscribers after..last_id, one chunk per transaction. A
        database error is retried (the runner keeps sending what is there); anything else stops
        the campaign, because finishing without every recipient would silently skip people."""
        store, engine = self.engine.store, self.engine
        failing = False
        while after < last_id and not self._stopped():
            upto = min(last_id, after + CHUNK)
            try:
                now = engine.clock()
                # Not store.counts() per chunk: it scans the whole ledger (and fills a page
                # cache with it); the exact total is read once at the end.
                self.total += await store.populate_ledger(
                    self.campaign_id, now, after=after, upto=upto
                )
            except StoreError as exc:
                if not failing:
                    log.error(
                        "campaign %d: cannot add recipients to the ledger, retrying: %s",
                        self.campaign_id,
                        exc,
                        extra={"action": "db.error", "campaign_id": self.campaign_id},
                    )
                failing = True
                await self._sleep(max(engine.app.poll_interval, 0.05))
                continue
            except Exception as exc:
                log.exception("populating the ledger failed", extra={"action": "ledger.bug"})
                if self.pause_reason is None:
                    self.pause_reason = f"cannot add recipients to the ledger: {exc}"
                self.stop.set()
                raise
            failing = False
            after = upto
        if after < last_id:
            return  # stopped part-way: the next runner populates again (idempotent)
        self.ledger_complete = True
        with contextlib.suppress(StoreError):  # other workers may have added rows too
            self.total = (await store.counts(self.campaign_id)).to_send
        log.info(
            "campaign %d: all %d recipients are in the ledger",
            self.campaign_id,
            self.total,
            extra={"action": "ledger.populated", "campaign_id": self.campaign_id},
        )

    async def _finish_or_wait(self) -> bool:
        """Nothing claimable: finish if nothing is left, else wait. True when done."""
        store = self.engine.store
        if self.inflight:
            await self._wait_drained()
            return False
        if not self.ledger_complete:
            # Everything added so far is claimed: wait for the next chunk, never finish early.
            if self.populating is None or self.populating.done():
                return True  # populating stopped part-way (stop or failure): not finished
            await asyncio.wait({self.populating}, timeout=0.05)
            return False
        counts = await store.counts(self.campaign_id)
        if counts.remaining == 0:
            try:
                await store.transition(
                    self.campaign_id,
                    frozenset({CampaignStatus.RUNNING}),
                    CampaignStatus.FINISHED,
                    now=self.engine.clock(),
                )
            except TransitionRefused:
                return True  # paused or cancelled meanwhile
            log.info(
                "campaign %d finished: %d sent, %d failed, %d unknown, %d skipped",
                self.campaign_id,
                counts.sent,
                counts.failed,
                counts.unknown,
                counts.skipped,
                extra={"action": "campaign.finished", "campaign_id": self.campaign_id},
            )
            return True
        next_at = await store.next_retry_at(self.campaign_id)
        delay = self.engine.app.poll_interval
        if next_at is not None:
            delay = min(delay, max(0.0, (next_at - self.engine.clock()).total_seconds()))
        await self._sleep(max(delay, 0.01))
        return False

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def _wait_drained(self) -> None:
        await self.drained.wait()

    async def _watch(self) -> None:
        """Stop when the campaign leaves `running` (paused or cancelled by the CLI) or the
        daemon stops; meanwhile renew this runner's claims every CLAIM_RENEW_S."""
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        while not self.stop.is_set():
            if self.daemon_stopping.is_set():
                self.stop.set()
                return
            if loop.time() - renewed >= CLAIM_RENEW_S:
                renewed = await self._renew_claims(renewed)
            try:
                campaign = await self.engine.store.get_campaign(self.campaign_id)
            except StoreError as exc:
                log.warning("cannot read campaign state: %s", exc, extra={"action": "db.error"})
            else:
                if campaign.status is not CampaignStatus.RUNNING:
                    log.info(
                        "campaign %d is now %s: stopping its sends",
                        self.campaign_id,
                        campaign.status.value,
                        extra={"action": "campaign.stopping", "campaign_id": self.campaign_id},
                    )
                    self.stop.set()
                    return
            stop_wait = asyncio.ensure_future(self.daemon_stopping.wait())
            try:
                await asyncio.wait({stop_wait}, timeout=self.engine.app.poll_interval)
            finally:
                stop_wait.cancel()

    async def _renew_claims(self, renewed: float) -> float:
        """Mark this runner's claims as alive; return when that was done (`renewed` if not)."""
        engine = self.engine
        try:
            await engine.store.renew_claims(engine.owner, self.campaign_id, engine.clock())
        except StoreError as exc:
            log.warning("cannot renew claims: %s", exc, extra={"action": "db.error"})
            return renewed
        return asyncio.get_running_loop().time()

    async def _pause(self, reason: str) -> None:
        try:
            await self.engine.store.transition(
                self.campaign_id,
                frozenset({CampaignStatus.RUNNING}),
                CampaignStatus.PAUSED,
                now=self.engine.clock(),
                reason=reason,
            )
        except TransitionRefused:
            return
        log.error(
            "campaign %d paused: %s",
            self.campaign_id,
            reason,
            extra={"action": "campaign.paused", "campaign_id": self.campaign_id},
        )
