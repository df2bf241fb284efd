"""APScheduler 3.x drives the daemon's tick; all campaign state lives in our own tables.

APScheduler's job stores cannot be shared between processes and skip jobs that fell due while
the daemon was down (misfire_grace_time). So campaignd keeps `send_at` in its campaigns table
and uses the scheduler only as a clock: an interval job calls `tick`, which claims due
campaigns from the database. Several daemons can therefore share one database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)


class Ticker:
    """Calls an async `tick` every `interval` seconds, never two at once, never piling up."""

    JOB_ID = "campaignd-tick"

    def __init__(self, tick: Callable[[], Awaitable[None]], interval: float) -> None:
        self._tick = tick
        self._interval = interval
        self._scheduler = AsyncIOScheduler(timezone=dt.UTC)

    def start(self) -> None:
        self._scheduler.add_job(
            self._tick,
            "interval",
            seconds=self._interval,
            id=self.JOB_ID,
            next_run_time=dt.datetime.now(dt.UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self._scheduler.start()

    def wake(self) -> None:
        """Run the tick as soon as possible (e.g. after a reload)."""
        self._scheduler.modify_job(self.JOB_ID, next_run_time=dt.datetime.now(dt.UTC))

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
