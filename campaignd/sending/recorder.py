"""Group-commit of delivery outcomes to the ledger, holding each message's slot until it is saved.

A message's in-flight slot (``app.concurrency``) is released only once its outcome is committed.
So at any moment the messages that may have been delivered without the ledger knowing are at
most ``concurrency``: that is the bound on duplicates after a crash. Outcomes are written in
batches (one transaction per batch), so the database is touched once per many messages.
If the database is unavailable the recorder keeps the outcomes and retries; sending stops by
itself because no slot comes free (back-pressure), and nothing is lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from campaignd.domain import DeliveryRecord
from campaignd.errors import StoreError
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

Committed = Callable[[int, Sequence[DeliveryRecord], int], None]
"""Called after a commit with (campaign id, its records, its send-error total or -1)."""


@dataclass
class _Pending:
    campaign_id: int
    record: DeliveryRecord


class Recorder:
    """Collects DeliveryRecords and writes them in batches; one owned task runs `run()`."""

    def __init__(
        self,
        store: Store,
        slots: asyncio.Semaphore,
        clock: Callable[[], dt.datetime],
        *,
        max_batch: int = 2000,
        retry_delay: float = 1.0,
        group: int = 1,
        linger: float = 0.0,
    ) -> None:
        self._store = store
        self._slots = slots
        self._clock = clock
        self._max_batch = max_batch
        self._retry_delay = retry_delay
        self._group = max(1, group)
        self._linger = linger
        self._full: asyncio.Future[None] | None = None  # set while lingering
        self._pending: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._listeners: dict[int, Committed] = {}
        self.committed = 0
        self.db_failures = 0

    def listen(self, campaign_id: int, callback: Committed) -> None:
        self._listeners[campaign_id] = callback

    def unlisten(self, campaign_id: int) -> None:
        self._listeners.pop(campaign_id, None)

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def submit(self, campaign_id: int, record: DeliveryRecord) -> None:
        """Queue one outcome; its slot is released after it is committed."""
        self._pending.append(_Pending(campaign_id, record))
        self._wakeup.set()
        if len(self._pending) >= self._group:
            self._stop_lingering()

    def close(self) -> None:
        """Finish: `run` returns once everything queued is written."""
        self._closing = True
        self._wakeup.set()
        self._stop_lingering()

    def _stop_lingering(self) -> None:
        full = self._full
        if full is not None and not full.done():
            full.set_result(None)

    async def _gather(self) -> None:
        """Wait until `group` outcomes are pending, `linger` has passed, or closing."""
        if self._closing or self._linger <= 0 or len(self._pending) >= self._group:
            return
        loop = asyncio.get_running_loop()
        self._full = full = loop.create_future()
        timer = loop.call_later(self._linger, self._stop_lingering)
        try:
            await full
        finally:
            timer.cancel()
            self._full = None

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                await self._gather()
                batch = self._pending[: self._max_batch]
                del self._pending[: len(batch)]
                await self._write(batch)
            if self._closing:
                return

    async def _write(self, batch: list[_Pending]) -> None:
        records = [p.record for p in batch]
        failing = False
        while True:
            try:
                await self._store.record_deliveries(records, self._clock())
                break
            except StoreError as exc:
                self.db_failures += 1
                if not failing:
                    log.error(
                        "cannot write %d delivery outcomes to the database, retrying: %s",
                        len(records),
                        exc,
                        extra={"action": "ledger.write_failed"},
                    )
                    failing = True
                await asyncio.sleep(self._retry_delay)
        if failing:
            log.warning("ledger writes recovered", extra={"action": "ledger.write_recovered"})
        self.committed += len(records)
        by_campaign: dict[int, list[DeliveryRecord]] = {}
        for p in batch:
            by_campaign.setdefault(p.campaign_id, []).append(p.record)
        for campaign_id, recs in by_campaign.items():
            errors = sum(1 for r in recs if r.sender_fault)
            total = -1
            if errors:
                total = await self._add_errors(campaign_id, errors)
            listener = self._listeners.get(campaign_id)
            if listener is not None:
                listener(campaign_id, recs, total)
        for _ in batch:
            self._slots.release()

    async def _add_errors(self, campaign_id: int, count: int) -> int:
        while True:
            try:
                return await self._store.add_send_errors(campaign_id, count)
            except StoreError as exc:
                log.error(
                    "cannot count send errors, retrying: %s",
                    exc,
                    extra={"action": "ledger.write_failed"},
                )
                await asyncio.sleep(self._retry_delay)
