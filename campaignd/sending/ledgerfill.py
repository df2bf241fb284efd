"""A campaign's ledger, filled in chunks of subscriber ids while its runner sends.

The first chunk is small so the first message leaves quickly; a background task adds the rest,
one chunk per transaction. The campaign finishes only once every chunk is in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from campaignd.domain import Campaign
from campaignd.errors import StoreError
from campaignd.sending.ending import Halt
from campaignd.sending.engine import Engine

log = logging.getLogger(__name__)

# Subscriber ids per ledger chunk: the first is small so the first message leaves quickly.
FIRST_CHUNK = 10_000
CHUNK = 50_000


class LedgerFill:
    """The ledger rows of one runner's campaign: how many to send, and whether all are in."""

    def __init__(self, engine: Engine, campaign_id: int, halt: Halt) -> None:
        self.engine = engine
        self.campaign_id = campaign_id
        self.halt = halt
        self.total = 0  # recipients to send (the progress lines' denominator)
        self.complete = False  # every eligible subscriber has its ledger row
        self.task: asyncio.Task[None] | None = None
        self._rest: tuple[int, int] | None = None  # subscriber ids still to add: (after, last)

    async def first_chunk(self, campaign: Campaign) -> None:
        """Add the first chunk and log what the campaign sends to."""
        store = self.engine.store
        last_id = await store.last_subscriber_id()
        upto = min(last_id, FIRST_CHUNK)
        added = await store.populate_ledger(self.campaign_id, self.engine.clock(), upto=upto)
        counts = await store.counts(self.campaign_id)
        self.total = counts.to_send
        more = upto < last_id
        self.complete = not more
        self._rest = (upto, last_id) if more else None
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

    def fill_rest(self) -> None:
        """Start adding the other chunks in the background (if any)."""
        if self._rest is not None:
            self.task = asyncio.create_task(
                self._populate_rest(*self._rest), name=f"populate-{self.campaign_id}"
            )

    async def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def wait_for_more(self) -> bool:
        """Everything added so far is claimed: wait for the next chunk, never finish early.
        True when no more will come (filling stopped part-way: a stop or a failure)."""
        if self.task is None or self.task.done():
            return True
        await asyncio.wait({self.task}, timeout=0.05)
        return False

    async def _populate_rest(self, after: int, last_id: int) -> None:
        """Add the ledger rows of subscribers after..last_id, one chunk per transaction. A
        database error is retried (the runner keeps sending what is there); anything else stops
        the campaign, because finishing without every recipient would silently skip people."""
        engine, store, halt = self.engine, self.engine.store, self.halt
        failing = False
        while after < last_id and not halt.stopped():
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
                await halt.sleep(max(engine.app.poll_interval, 0.05))
                continue
            except Exception as exc:
                log.exception("populating the ledger failed", extra={"action": "ledger.bug"})
                halt.pause(f"cannot add recipients to the ledger: {exc}")
                halt.event.set()
                raise
            failing = False
            after = upto
        if after < last_id:
            return  # stopped part-way: the next runner populates again (idempotent)
        self.complete = True
        with contextlib.suppress(StoreError):  # other workers may have added rows too
            self.total = (await store.counts(self.campaign_id)).to_send
        log.info(
            "campaign %d: all %d recipients are in the ledger",
            self.campaign_id,
            self.total,
            extra={"action": "ledger.populated", "campaign_id": self.campaign_id},
        )
