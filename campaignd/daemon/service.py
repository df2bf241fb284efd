"""The daemon: builds store, messengers and engine on one exit stack, runs, and drains on stop."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import socket
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path

from campaignd.config import Settings, load_settings
from campaignd.daemon import signals
from campaignd.daemon.scheduler import Ticker
from campaignd.daemon.sdnotify import Notifier
from campaignd.daemon.wiring import Extras
from campaignd.domain import CampaignStatus, utcnow
from campaignd.errors import CampaigndError, StoreError, TransitionRefused
from campaignd.messengers.protocol import Messenger
from campaignd.sending import engine as dispatch
from campaignd.sending.engine import CLAIM_LEASE, CampaignRunner, Engine
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

PROGRESS_EVERY = 10.0

MessengerFactory = Callable[[Settings], Mapping[str, Messenger]]


async def _open_sql_store(settings: Settings) -> Store:
    from campaignd.store.sql import SqlStore

    return await SqlStore.open(settings.db.url)


def _build_messengers(settings: Settings) -> Mapping[str, Messenger]:
    from campaignd.messengers.registry import build_messengers

    return build_messengers(settings)


class Daemon:
    """`campaignd run`: sends due and running campaigns until stopped (or idle)."""

    #: Set by `campaignd run` (its own process): once started, move everything that exists
    #: out of the garbage collector's reach (gc.freeze). Not for daemons run inside tests.
    freeze_heap = False

    def __init__(
        self,
        settings: Settings,
        *,
        config_path: Path | None = None,
        until_idle: bool = False,
        clock: Callable[[], dt.datetime] = utcnow,
        store: Store | None = None,
        messengers: MessengerFactory = _build_messengers,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        self.until_idle = until_idle
        self.clock = clock
        self._given_store = store
        self._messenger_factory = messengers
        self.notifier = notifier or Notifier()
        self.stopping = asyncio.Event()
        self.forced = asyncio.Event()
        self.idle = asyncio.Event()
        self.runners: dict[int, tuple[CampaignRunner, asyncio.Task[None]]] = {}
        self._side: set[asyncio.Task[None]] = set()
        self._lag_warned: set[int] = set()
        self._db_down = False  # the tick could not reach the database (logged once)
        self._swept: float | None = None  # when the tick last looked for stale claims
        self.engine: Engine | None = None
        self.extras: Extras | None = None
        self.last_tick = 0.0  # loop time of the latest tick, for /healthz

    # -- run -------------------------------------------------------------------------------
    async def run(self) -> int:
        """Run until stopped; return the exit code (0 after a graceful stop)."""
        settings = self.settings
        secret = settings.require_secret()
        owner = settings.app.instance_id or socket.gethostname()
        async with AsyncExitStack() as stack:
            store = self._given_store or await _open_sql_store(settings)
            if self._given_store is None:
                stack.push_async_callback(store.close)
            await store.check_schema()
            messengers = dict(self._messenger_factory(settings))
            self.engine = engine = Engine(
                store=store,
                app=settings.app,
                secret=secret,
                owner=owner,
                messengers=messengers,
                clock=self.clock,
                return_path=settings.bounces.return_path,
            )
            recovered = await store.recover_claims(owner, self.clock() - CLAIM_LEASE)
            if recovered:
                log.warning(
                    "recovered %d recipients claimed before an unclean stop; they are sent again "
                    "(at most %d of them may have been delivered already)",
                    recovered,
                    settings.app.concurrency,
                    extra={"action": "daemon.recovered"},
                )
            stack.push_async_callback(self._close_current_messengers)
            self.last_tick = asyncio.get_running_loop().time()
            extras = Extras(
                settings, store, engine, clock=self.clock, scheduler_alive=self.scheduler_alive
            )
            await extras.start()  # metrics, send-time bounces, [http] endpoint
            self.extras = extras
            stack.push_async_callback(extras.stop)
            if settings.inbound.enabled:  # bounces and unsubscribes by mail
                from campaignd.daemon import inbound

                stack.push_async_callback(
                    (await inbound.serve(settings, store, extras.suppressor)).stop
                )
            recorder = asyncio.create_task(engine.recorder.run(), name="recorder")
            ticker = Ticker(self.tick, settings.app.poll_interval)
            loop = asyncio.get_running_loop()
            with signals.install(
                loop, on_stop=self.stopping.set, on_force=self.forced.set, on_reload=self.reload
            ):
                ticker.start()
                self._spawn(self._progress(), "progress")
                self.started()
                if self.freeze_heap:
                    # What exists now (modules, the store, templates) lives as long as the
                    # process; frozen, the collector's full passes walk only what sending
                    # creates: 0.84 -> 0.12 s of CPU per 100k messages.
                    gc.collect()
                    gc.freeze()
                self.notifier.ready(f"ready as {owner}")
                log.info(
                    "campaignd running as %s (concurrency %d, rate %s/s, messengers: %s)",
                    owner,
                    settings.app.concurrency,
                    settings.app.message_rate or "unlimited",
                    ", ".join(sorted(messengers)) or "none",
                    extra={"action": "daemon.started"},
                )
                await self._wait_any(self.stopping, self.idle, self.forced)
                self.stopping.set()
                self.notifier.stopping()
                ticker.shutdown()
                code = await self._drain(recorder)
            for task in self._side:
                task.cancel()
            await asyncio.gather(*self._side, return_exceptions=True)
            t = engine.tally
            log.info(
                "stopped: sent %d ◆ failed %d ◆ deferred %d ◆ unknown %d ◆ in flight %d",
                t.sent,
                t.failed,
                t.deferred,
                t.unknown,
                engine.in_flight,
                extra={"action": "daemon.stopped"},
            )
            return code

    async def _drain(self, recorder: asyncio.Task[None]) -> int:
        """Let in-flight sends finish within the grace period, record them, then stop."""
        assert self.engine is not None
        tasks = [task for _, task in self.runners.values()]
        grace = self.settings.app.shutdown_grace
        code = 0
        if tasks:
            log.info(
                "waiting up to %.0fs for %d messages in flight",
                grace,
                self.engine.in_flight,
                extra={"action": "daemon.draining"},
            )
            forced = asyncio.ensure_future(self.forced.wait())
            done, _ = await asyncio.wait(
                [*tasks, forced], timeout=grace, return_when=asyncio.FIRST_COMPLETED
            )
            while not forced.done() and not all(t.done() for t in tasks) and done:
                done, _ = await asyncio.wait(
                    [*[t for t in tasks if not t.done()], forced],
                    timeout=grace,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            forced.cancel()
            if not all(t.done() for t in tasks):
                log.warning(
                    "stopping with %d messages in flight; their recipients are recovered at the "
                    "next start",
                    self.engine.in_flight,
                    extra={"action": "daemon.forced"},
                )
                code = 1
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        self.engine.recorder.close()
        if code == 0:
            await recorder
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(recorder, 5)
        return code

    # -- the tick --------------------------------------------------------------------------
    async def tick(self) -> None:
        """Start due scheduled campaigns and a runner for every running campaign."""
        self.last_tick = asyncio.get_running_loop().time()
        if self.stopping.is_set() or self.engine is None:
            return
        store = self.engine.store
        now = self.clock()
        max_lag = dt.timedelta(seconds=self.settings.app.schedule_max_lag)
        try:
            for campaign in await store.due_campaigns(now):
                assert campaign.send_at is not None
                if now - campaign.send_at > max_lag:
                    if campaign.id not in self._lag_warned:
                        self._lag_warned.add(campaign.id)
                        log.warning(
                            "campaign %d was due at %s, more than schedule_max_lag ago; it stays "
                            "scheduled: start it with `campaignd campaigns start %d`",
                            campaign.id,
                            campaign.send_at.isoformat(),
                            campaign.id,
                            extra={"action": "campaign.too_late", "campaign_id": campaign.id},
                        )
                    continue
                try:
                    await store.transition(
                        campaign.id,
                        frozenset({CampaignStatus.SCHEDULED}),
                        CampaignStatus.RUNNING,
                        now=now,
                    )
                except TransitionRefused:
                    continue  # another daemon took it, or the operator changed it
                log.info(
                    "campaign %d started (scheduled for %s)",
                    campaign.id,
                    campaign.send_at.isoformat(),
                    extra={"action": "campaign.started", "campaign_id": campaign.id},
                )
            running = await store.running_campaigns()
        except StoreError as exc:
            if not self._db_down:
                log.error(
                    "database unavailable, retrying every tick: %s",
                    exc,
                    extra={"action": "db.error"},
                )
            self._db_down = True
            return
        if self._db_down:
            self._db_down = False
            log.warning("database available again", extra={"action": "db.recovered"})
        await self._sweep_stale_claims(store, [c.id for c in running], now)
        for campaign in running:
            if campaign.id not in self.runners and not self.stopping.is_set():
                self._start_runner(campaign.id)
        if self.until_idle and not self.runners and not running:
            self.idle.set()

    async def _sweep_stale_claims(
        self, store: Store, campaign_ids: list[int], now: dt.datetime
    ) -> None:
        """Once a renewal interval, put back the running campaigns' claims that nobody renewed
        within the lease: a daemon or worker that died while this one runs on. Live runners
        renew theirs (see CampaignRunner._watch); without this, those rows would wait for some
        daemon's restart, and a campaign would not finish meanwhile."""
        mark = asyncio.get_running_loop().time()
        if self._swept is None:  # the start-up recovery has just done it
            self._swept = mark
            return
        if mark - self._swept < dispatch.CLAIM_RENEW_S:
            return
        self._swept = mark
        assert self.engine is not None
        for campaign_id in campaign_ids:
            try:
                recovered = await store.recover_stale_claims(
                    campaign_id, now - CLAIM_LEASE, self.engine.owner
                )
            except StoreError as exc:
                log.warning("cannot look for stale claims: %s", exc, extra={"action": "db.error"})
                return
            if recovered:
                log.warning(
                    "campaign %d: recovered %d recipients claimed by a daemon that stopped "
                    "renewing its claims; they are sent again (at most that daemon's "
                    "concurrency of them may have been delivered already)",
                    campaign_id,
                    recovered,
                    extra={"action": "daemon.recovered", "campaign_id": campaign_id},
                )

    def _start_runner(self, campaign_id: int) -> None:
        assert self.engine is not None
        runner = CampaignRunner(self.engine, campaign_id, self.stopping)
        task = asyncio.create_task(runner.run(), name=f"campaign-{campaign_id}")
        self.runners[campaign_id] = (runner, task)

        def done(t: asyncio.Task[None]) -> None:
            self.runners.pop(campaign_id, None)
            if not t.cancelled() and (exc := t.exception()) is not None:
                log.error(
                    "campaign %d runner failed, it restarts at the next tick: %s",
                    campaign_id,
                    exc,
                    exc_info=exc if not isinstance(exc, CampaigndError) else None,
                    extra={"action": "campaign.runner_failed", "campaign_id": campaign_id},
                )

        task.add_done_callback(done)

    def scheduler_alive(self) -> bool:
        """The tick ran lately (a stuck database or loop shows here, for /healthz)."""
        stale_after = max(30.0, 10 * self.settings.app.poll_interval)
        return asyncio.get_running_loop().time() - self.last_tick < stale_after

    # -- side tasks ------------------------------------------------------------------------
    def started(self) -> None:
        """Called once the daemon is up (engine, extras, signals); for subclasses."""

    def _spawn(self, coro: object, name: str) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        task.set_name(name)
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    async def _progress(self) -> None:
        """Periodic progress lines, systemd STATUS and WATCHDOG pings."""
        assert self.engine is not None
        interval = PROGRESS_EVERY
        if self.notifier.watchdog_interval:
            interval = min(interval, self.notifier.watchdog_interval)
        last_log = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            self.notifier.watchdog()
            if loop.time() - last_log < PROGRESS_EVERY:
                continue
            last_log = loop.time()
            parts = []
            for campaign_id, (runner, _) in sorted(self.runners.items()):
                elapsed = max(1e-9, loop.time() - runner.started)
                done = runner.tally.sent + runner.tally.failed + runner.tally.unknown
                rate = done / elapsed
                left = max(0, runner.total - done)
                eta = f"{left / rate:.0f}s" if rate > 0 else "?"
                parts.append(f"#{campaign_id} {done}/{runner.total} ({rate:.0f}/s, eta {eta})")
                log.info(
                    "campaign %d: sent %d, failed %d, deferred %d of %d; %.1f msg/s, ETA %s",
                    campaign_id,
                    runner.tally.sent,
                    runner.tally.failed,
                    runner.tally.deferred,
                    runner.total,
                    rate,
                    eta,
                    extra={"action": "campaign.progress", "campaign_id": campaign_id},
                )
            self.notifier.status("sending " + "; ".join(parts) if parts else "idle")

    def load_settings(self) -> Settings:
        """The settings a reload applies (a worker process takes its share of them)."""
        return load_settings(self.config_path)

    def reload(self) -> None:
        """SIGHUP: re-read settings; swap messengers and rates; in-flight sends are kept."""
        assert self.engine is not None
        self.notifier.reloading()
        try:
            fresh = self.load_settings()
            messengers = dict(self._messenger_factory(fresh))
        except CampaigndError as exc:
            log.error(
                "reload refused, keeping the old settings: %s", exc, extra={"action": "reload"}
            )
            self.notifier.ready("reload refused")
            return
        old = self.engine.messengers
        self.engine.messengers = messengers
        self.engine.apply_rates(fresh.app)
        if fresh.app.concurrency != self.settings.app.concurrency:
            log.warning(
                "concurrency changes take effect at the next restart", extra={"action": "reload"}
            )
        if self.extras is not None:
            for section in self.extras.reload(fresh):
                log.warning(
                    "[%s] changes take effect at the next restart",
                    section,
                    extra={"action": "reload"},
                )
        self.settings = fresh
        self._spawn(self._close_later(old), "close-old-messengers")
        log.info("settings reloaded", extra={"action": "reload"})
        self.notifier.ready("reloaded")

    async def _close_later(self, messengers: Mapping[str, Messenger]) -> None:
        await asyncio.sleep(max(5.0, self.settings.app.shutdown_grace))
        await self._close_messengers(messengers)

    async def _close_current_messengers(self) -> None:
        if self.engine is not None:
            await self._close_messengers(self.engine.messengers)

    @staticmethod
    async def _close_messengers(messengers: Mapping[str, Messenger]) -> None:
        for messenger in {id(m): m for m in messengers.values()}.values():
            with contextlib.suppress(Exception):
                await messenger.close()

    @staticmethod
    async def _wait_any(*events: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
