"""The daemon: builds store, messengers and engine on one exit stack, runs, and drains on stop."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import socket
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path

from campaignd.campaigns.scheduling import DueCampaigns
from campaignd.config import Settings, load_settings
from campaignd.daemon import changes, intake, progress, signals
from campaignd.daemon.scheduler import Ticker
from campaignd.daemon.sdnotify import Notifier
from campaignd.daemon.stopping import close_messengers, drain, wait_any
from campaignd.daemon.wiring import Extras
from campaignd.domain import utcnow
from campaignd.errors import CampaigndError, StoreError
from campaignd.messengers.mx import DnsMxResolver, MxResolver
from campaignd.messengers.protocol import Messenger
from campaignd.rendering.dkim import signer_from_settings
from campaignd.sending.claims import StaleClaimSweep, lease, recover_at_start
from campaignd.sending.engine import Engine
from campaignd.sending.runner import CampaignRunner
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)
_RELOAD = {"action": "reload"}

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
        mx_resolver: MxResolver | None = None,
    ) -> None:
        self.settings, self.config_path, self.until_idle = settings, config_path, until_idle
        self.clock = clock
        self._mx_resolver = mx_resolver  # None: DNS, if a [[domain_limits]] entry has `mx`
        self._given_store = store
        self._messenger_factory = messengers
        self.notifier = notifier or Notifier()
        self.stopping = asyncio.Event()
        self.forced = asyncio.Event()
        self.idle = asyncio.Event()
        self.runners: dict[int, tuple[CampaignRunner, asyncio.Task[None]]] = {}
        self._side: set[asyncio.Task[None]] = set()
        self._due = DueCampaigns()
        self._sweep = StaleClaimSweep(settings.app)
        self._db_down = False  # the tick could not reach the database (logged once)
        self.engine: Engine | None = None
        self.extras: Extras | None = None
        self.last_tick = 0.0  # loop time of the latest tick, for /healthz

    # -- run -------------------------------------------------------------------------------
    async def run(self) -> int:
        """Run until stopped; return the exit code (0 after a graceful stop)."""
        async with AsyncExitStack() as stack:
            engine = await self._open(stack)
            await self._start_extras(stack, engine)
            code = await self._serve(engine)
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

    async def _open(self, stack: AsyncExitStack) -> Engine:
        """The store (checked), the messengers and the engine; claims left by an unclean stop
        are put back."""
        settings = self.settings
        secret = settings.require_secret()
        dkim = signer_from_settings(settings.dkim)  # a bad key stops the start (exit 78)
        owner = settings.app.instance_id or socket.gethostname()
        store = self._given_store or await _open_sql_store(settings)
        if self._given_store is None:
            stack.push_async_callback(store.close)
        await store.check_schema()
        self.engine = engine = Engine(
            store=store,
            app=settings.app,
            secret=secret,
            owner=owner,
            messengers=dict(self._messenger_factory(settings)),
            clock=self.clock,
            return_path=settings.bounces.return_path,
            tracking=settings.tracking.mode,
            dkim=dkim,
            domain_limits=settings.domain_limits,
            mx_resolver=self._mx_resolver or _dns_if_needed(settings),
        )
        await recover_at_start(
            store, owner, self.clock(), settings.app.concurrency, lease(settings.app)
        )
        stack.push_async_callback(self._close_current_messengers)
        return engine

    async def _start_extras(self, stack: AsyncExitStack, engine: Engine) -> None:
        """Metrics, send-time bounces, the [http] endpoint, the [inbound] receiver and the
        [[mailbox]] scanners."""
        settings = self.settings
        self.last_tick = asyncio.get_running_loop().time()
        extras = Extras(
            settings, engine.store, engine, clock=self.clock, scheduler_alive=self.scheduler_alive
        )
        await extras.start()
        self.extras = extras
        stack.push_async_callback(extras.stop)
        # Bounces and unsubscribes by mail: the SMTP receiver, hosted mailboxes.
        await intake.start(
            stack, settings, engine.store, extras.suppressor, self.stopping, self._spawn
        )

    async def _serve(self, engine: Engine) -> int:
        """Tick and send until a stop, the idle end or a forced stop; then drain."""
        settings = self.settings
        recorder = asyncio.create_task(engine.recorder.run(), name="recorder")
        ticker = Ticker(self.tick, settings.app.poll_interval)
        loop = asyncio.get_running_loop()
        with signals.install(
            loop, on_stop=self.stopping.set, on_force=self.forced.set, on_reload=self.reload
        ):
            ticker.start()
            self._spawn(progress.report(self.runners, self.notifier), "progress")
            self._spawn(changes.listen(settings.db.url, ticker, self.stopping), "listen")
            self.started()
            if self.freeze_heap:
                # What exists now (modules, the store, templates) lives as long as the
                # process; frozen, the collector's full passes walk only what sending
                # creates: 0.84 -> 0.12 s of CPU per 100k messages.
                gc.collect()
                gc.freeze()
            self.notifier.ready(f"ready as {engine.owner}")
            log.info(
                "campaignd running as %s (concurrency %d, rate %s/s, messengers: %s)",
                engine.owner,
                settings.app.concurrency,
                settings.app.message_rate or "unlimited",
                ", ".join(sorted(engine.messengers)) or "none",
                extra={"action": "daemon.started"},
            )
            await wait_any(self.stopping, self.idle, self.forced)
            self.stopping.set()
            self.notifier.stopping()
            ticker.shutdown()
            runners = [task for _, task in self.runners.values()]
            return await drain(
                engine, runners, recorder, self.forced, self.settings.app.shutdown_grace
            )

    # -- the tick --------------------------------------------------------------------------
    async def tick(self) -> None:
        """Start due scheduled campaigns and a runner for every running campaign."""
        self.last_tick = asyncio.get_running_loop().time()
        if self.stopping.is_set() or self.engine is None:
            return
        store = self.engine.store
        now = self.clock()
        try:
            await self._due.start(store, now, self.settings.app)
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
        await self._sweep(store, self.engine.owner, [c.id for c in running], now)
        for campaign in running:
            if campaign.id not in self.runners and not self.stopping.is_set():
                self._start_runner(campaign.id)
        if self.until_idle and not self.runners and not running:
            self.idle.set()

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
            dkim = signer_from_settings(fresh.dkim)
        except CampaigndError as exc:
            log.error("reload refused, keeping the old settings: %s", exc, extra=_RELOAD)
            self.notifier.ready("reload refused")
            return
        old = self.engine.messengers
        self.engine.messengers = messengers
        self.engine.dkim = dkim  # for campaigns (re)started from now on
        self.engine.apply_rates(fresh.app)
        self._sweep.app = fresh.app  # the lease; live runners read it from engine.app
        later = [
            key
            for key, changed in (
                ("concurrency", fresh.app.concurrency != self.settings.app.concurrency),
                ("[[domain_limits]]", fresh.domain_limits != self.settings.domain_limits),
            )
            if changed
        ]
        later += [f"[{s}]" for s in self.extras.reload(fresh)] if self.extras is not None else []
        for key in later:
            log.warning("%s changes take effect at the next restart", key, extra=_RELOAD)
        self.settings = fresh
        self._spawn(self._close_later(old), "close-old-messengers")
        log.info("settings reloaded", extra=_RELOAD)
        self.notifier.ready("reloaded")

    async def _close_later(self, messengers: Mapping[str, Messenger]) -> None:
        await asyncio.sleep(max(5.0, self.settings.app.shutdown_grace))
        await close_messengers(messengers)

    async def _close_current_messengers(self) -> None:
        if self.engine is not None:
            await close_messengers(self.engine.messengers)


def _dns_if_needed(settings: Settings) -> MxResolver | None:
    """The real MX resolver when a [[domain_limits]] entry groups by MX, else none."""
    return DnsMxResolver() if any(d.mx for d in settings.domain_limits) else None
