"""Opens and clicks: telling machines from readers, and writing hits in batches (HitRecorder).

Machine hits (counted, but apart from people's):

- HEAD requests (link checkers and scanners ask whether a link works; people's mail clients GET);
- a user agent holding one of ``[tracking] machine_agents`` (scanners, previewers, bots);
- opens from ``[tracking] apple_networks`` (17.0.0.0/8) or with the bare user agent
  ``Mozilla/5.0``: Apple Mail Privacy Protection loads every image through Apple's proxies when
  the message arrives, whether or not anyone reads it;
- a hit less than ``[tracking] machine_window`` seconds after the message was built (its token
  says when): link scanners of the receiving side fetch links at delivery.

Hits wait in memory and are written by one ``TrackingStore.record_hits`` transaction every
``flush_interval`` or as soon as ``flush_hits`` wait: never one transaction per hit. The daemon
owns the flushing task (``run``) and, on shutdown, ``close`` writes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass

from campaignd.config import TrackingSettings
from campaignd.domain import Hit, HitKind, TrackingMode
from campaignd.errors import CampaigndError
from campaignd.store.tracking_protocol import TrackingStore

log = logging.getLogger(__name__)

#: Apple Mail Privacy Protection's proxies send exactly this user agent.
APPLE_PROXY_AGENT = "Mozilla/5.0"


@dataclass(frozen=True, slots=True)
class Request:
    """What the endpoint knows of one hit's request."""

    method: str
    user_agent: str
    client_ip: str


class MachineRules:
    """The heuristics above, built once from [tracking]."""

    def __init__(self, settings: TrackingSettings) -> None:
        self._agents = settings.machine_agents
        self._networks = tuple(ipaddress.ip_network(n) for n in settings.apple_networks)
        self._window = dt.timedelta(seconds=settings.machine_window)

    def is_machine(
        self, kind: HitKind, request: Request, built_at: dt.datetime, now: dt.datetime
    ) -> bool:
        if request.method.upper() == "HEAD":
            return True
        agent = request.user_agent.lower()
        if any(part in agent for part in self._agents):
            return True
        if kind is HitKind.OPEN and (
            request.user_agent.strip() == APPLE_PROXY_AGENT or self._apple(request.client_ip)
        ):
            return True
        return now - built_at < self._window

    def _apple(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self._networks)


class HitRecorder:
    """A bounded in-memory buffer of hits flushed in one transaction per batch."""

    def __init__(
        self,
        store: TrackingStore,
        settings: TrackingSettings,
        *,
        on_flush_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self._store = store
        self.settings = settings
        self.rules = MachineRules(settings)
        self._buffer: list[Hit] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._failing = False
        self._on_flush_error = on_flush_error
        self.dropped = 0  # hits lost because the buffer was full (database unavailable)
        self.written = 0

    @property
    def mode(self) -> TrackingMode:
        return self.settings.mode

    @property
    def backlog(self) -> int:
        return len(self._buffer)

    def add(self, hit: Hit) -> bool:
        """Queue a hit (its subscriber is forgotten unless the mode is individual); False when
        tracking is off (unsubscribes, bare counts, are kept) or the buffer is full."""
        if self.mode is TrackingMode.OFF and hit.kind is not HitKind.UNSUBSCRIBE:
            return False
        if hit.subscriber_id is not None and self.mode is not TrackingMode.INDIVIDUAL:
            hit = Hit(hit.campaign_id, hit.kind, hit.at, hit.machine, hit.url, None)
        if len(self._buffer) >= self.settings.max_buffered:
            self.dropped += 1
            return False
        self._buffer.append(hit)
        if len(self._buffer) >= self.settings.flush_hits:
            self._wake.set()
        return True

    async def flush(self) -> int:
        """Write what waits in one transaction; on failure keep it for the next try."""
        batch, self._buffer = self._buffer, []
        if not batch:
            return 0
        try:
            await self._store.record_hits(batch)
        except CampaigndError as exc:
            self._buffer = batch + self._buffer
            del self._buffer[self.settings.max_buffered :]
            if not self._failing:
                log.error(
                    "tracking hits not written, retrying: %s", exc, extra={"action": "track.error"}
                )
            self._failing = True
            if self._on_flush_error is not None:
                self._on_flush_error(exc)
            return 0
        if self._failing:
            log.info("tracking hits written again", extra={"action": "track.recovered"})
        self._failing = False
        self.written += len(batch)
        return len(batch)

    async def run(self) -> None:
        """Flush every flush_interval, or at once when flush_hits wait; until closed."""
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.flush_interval)
            self._wake.clear()
            await self.flush()

    async def close(self) -> None:
        """Stop the loop and write what is left (one last try)."""
        self._closed = True
        self._wake.set()
        await self.flush()
