"""What the daemon attaches to its engine: metrics, send-time bounces, and the HTTP endpoint.

Built by the daemon after the engine and stopped from its exit stack, after the drain, so the
last outcomes still count and queued bounces are written before the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from campaignd.config import Settings
from campaignd.dispatch import Engine
from campaignd.http.metrics import Metrics
from campaignd.store.protocol import Store
from campaignd.suppression import SendTimeBounces, Suppressor

log = logging.getLogger(__name__)

BOUNCE_DRAIN_TIMEOUT = 10.0


class Extras:
    """Metrics and bounces always; the HTTP server when `[http] enabled`."""

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
        self.metrics = Metrics()
        self.metrics.bind(engine)
        engine.observers.append(self.metrics.observe)
        self.suppressor = Suppressor(store, settings.bounces, clock)
        self.bounces: SendTimeBounces | None = None
        if settings.bounces.enabled:
            self.bounces = SendTimeBounces(self.suppressor)
            engine.observers.append(self.bounces)
        self._bounce_task: asyncio.Task[None] | None = None
        self.server = None
        if settings.http.enabled:
            from campaignd.http.app import create_app
            from campaignd.http.server import HttpServer

            app = create_app(
                store,
                settings,
                clock=clock,
                metrics=self.metrics,
                suppressor=self.suppressor,
                scheduler_alive=scheduler_alive,
            )
            self.server = HttpServer(app, settings.http.listen)

    async def start(self) -> None:
        """Bind the HTTP port first (a busy port stops the start), then start the tasks."""
        if self.server is not None:
            self.server.bind()
        if self.bounces is not None:
            self._bounce_task = asyncio.create_task(self.bounces.run(), name="bounces")
        if self.server is not None:
            self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self.bounces is not None and self._bounce_task is not None:
            self.bounces.close()
            try:
                await asyncio.wait_for(self._bounce_task, BOUNCE_DRAIN_TIMEOUT)
            except TimeoutError:
                log.warning(
                    "%d send-time bounces not recorded (database unavailable)",
                    self.bounces.backlog,
                    extra={"action": "bounce.write_failed"},
                )
            with contextlib.suppress(asyncio.CancelledError):
                await self._bounce_task
