"""What the daemon attaches to its engine: metrics, send-time bounces, the HTTP endpoint and
the admin API (each HTTP server on its own listener); its tracking hits' recorder (flushed last,
after the server stopped taking requests).

Built by the daemon after the engine and stopped from its exit stack, after the drain, so the
last outcomes still count and queued bounces are written before the store closes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from campaignd.api.endpoints import ApiContext
from campaignd.bounces.suppression import SendTimeBounces, Suppressor
from campaignd.campaigns.hits import HitRecorder
from campaignd.config import Settings
from campaignd.http.context import HttpContext
from campaignd.http.metrics import Metrics
from campaignd.sending.engine import Engine
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

BOUNCE_DRAIN_TIMEOUT = 10.0


class Extras:
    """Metrics and bounces always; the HTTP server when `[http] enabled`, the admin API when
    `[api] enabled`."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        engine: Engine,
        *,
        clock: Callable[[], dt.datetime],
        scheduler_alive: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self._engine = engine
        self.metrics = Metrics()
        self.metrics.bind(engine)
        engine.observers.append(self.metrics.observe)
        self.suppressor = Suppressor(store, settings.bounces, clock)
        self.bounces: SendTimeBounces | None = None
        if settings.bounces.enabled:
            self.bounces = SendTimeBounces(self.suppressor)
            engine.observers.append(self.bounces)
        self._bounce_tasks: list[asyncio.Task[None]] = []
        self._bounce_queues: list[SendTimeBounces] = []  # current and switched-off ones
        self.server = None
        self._http_context: HttpContext | None = None
        self.hits: HitRecorder | None = None
        self._hits_task: asyncio.Task[None] | None = None
        if settings.http.enabled:
            from campaignd.config.smtp import DEFAULT_POOL
            from campaignd.http.app import create_app
            from campaignd.http.server import HttpServer, guard_of

            self.hits = HitRecorder(store, settings.tracking)
            app = create_app(
                store,
                settings,
                clock=clock,
                metrics=self.metrics,
                suppressor=self.suppressor,
                scheduler_alive=scheduler_alive,
                # The public form's confirmation mails: the default pool, as `optin send`.
                messenger=lambda: engine.messengers.get(DEFAULT_POOL),
                hits=self.hits,
            )
            self.server = HttpServer(app, settings.http.listen, guard=guard_of(settings.http))
            self._http_context = app.state.ctx
        self.api_server = None
        self._api_context: ApiContext | None = None
        if settings.api.enabled:
            from campaignd.api.app import create_api_app
            from campaignd.http.guard import ConnectionGuard
            from campaignd.http.server import HttpServer

            api = create_api_app(store, settings, clock=clock)
            guard = ConnectionGuard(
                header_timeout=settings.api.header_timeout,
                body_timeout=settings.api.body_timeout,
            )
            self.api_server = HttpServer(
                api, settings.api.listen, guard=guard, key="api.listen", name="api"
            )
            self._api_context = api.state.ctx

    async def start(self) -> None:
        """Bind the ports first (a busy port stops the start), then start the tasks."""
        for server in (self.server, self.api_server):
            if server is not None:
                server.bind()
        if self.bounces is not None:
            self._run_bounces(self.bounces)
        if self.hits is not None:
            self._hits_task = asyncio.create_task(self.hits.run(), name="tracking-hits")
        for server in (self.server, self.api_server):
            if server is not None:
                server.start()

    def _run_bounces(self, bounces: SendTimeBounces) -> None:
        self._bounce_queues.append(bounces)
        self._bounce_tasks.append(asyncio.create_task(bounces.run(), name="bounces"))

    def reload(self, fresh: Settings) -> list[str]:
        """SIGHUP: apply new [bounces] settings (thresholds, actions, on/off) at once; return
        the sections whose changes need a restart ([http]: its port and secrets are bound)."""
        self.suppressor.settings = fresh.bounces
        self._engine.return_path = fresh.bounces.return_path  # campaigns prepared from now on
        if fresh.bounces.enabled and self.bounces is None:
            self.bounces = SendTimeBounces(self.suppressor)
            self._engine.observers.append(self.bounces)
            self._run_bounces(self.bounces)
        elif not fresh.bounces.enabled and self.bounces is not None:
            self._engine.observers.remove(self.bounces)
            self.bounces.close()  # its task writes what is queued, then ends
            self.bounces = None
        if self._http_context is not None:  # the webhooks' credentials are in [bounces] too
            ctx = self._http_context
            ctx.settings = ctx.settings.model_copy(update={"bounces": fresh.bounces})
        later = [
            s
            for s in ("http", "api", "inbound", "tracking")
            if getattr(fresh, s) != getattr(self.settings, s)
        ]
        self.settings = fresh
        return later

    async def stop(self) -> None:
        for server in (self.api_server, self.server):
            if server is not None:
                await server.stop()
        if self._api_context is not None:  # a CSV upload still importing stops here
            await self._api_context.imports.close()
        if self.hits is not None:
            await self.hits.close()  # the last hits, in one transaction
            if self._hits_task is not None:
                await self._hits_task
        if self.bounces is not None:
            self.bounces.close()
        draining = [t for t in self._bounce_tasks if not t.done()]
        if draining:
            _, late = await asyncio.wait(draining, timeout=BOUNCE_DRAIN_TIMEOUT)
            if late:
                log.warning(
                    "%d send-time bounces not recorded (database unavailable)",
                    sum(b.backlog for b in self._bounce_queues),
                    extra={"action": "bounce.write_failed"},
                )
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
