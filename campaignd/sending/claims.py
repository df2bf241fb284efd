"""Claim leases: how long a claim holds, its renewal by a live runner, and recovery of the dead's.

A runner's claims stay its own while it renews them (``watch``, every ``renew_interval``).
Claims nobody renewed within the lease (``app.claim_lease``, default ``CLAIM_LEASE``) belong to
a daemon or worker that died: they are put back when a daemon starts (``recover_at_start``)
and, while one runs, by the sweep of its tick (``StaleClaimSweep``); their recipients are sent
again. A claim's age is judged by the store's claim clock: the database server's on PostgreSQL
(see campaignd.store.protocol ``renew_claims``), so a daemon whose clock is ahead does not take
live claims and one whose clock is behind does not wait past the lease.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable

from campaignd.config import AppSettings
from campaignd.domain import CampaignStatus
from campaignd.errors import StoreError
from campaignd.sending.ending import Halt
from campaignd.sending.engine import Engine
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

# The default of app.claim_lease: claims older than this are taken for a dead daemon's.
CLAIM_LEASE = dt.timedelta(minutes=10)
# How often a runner marks its claims as alive, far inside the lease (at most a fifth of it):
# a claim can wait longer than the lease behind a slow message rate or a sliding window.
CLAIM_RENEW_S = 60.0


def lease(app: AppSettings) -> dt.timedelta:
    """The claim lease of app.claim_lease."""
    return dt.timedelta(seconds=app.claim_lease)


def renew_interval(app: AppSettings) -> float:
    """Seconds between renewals: CLAIM_RENEW_S, or a fifth of a shorter lease."""
    return min(CLAIM_RENEW_S, app.claim_lease / 5)


async def watch(engine: Engine, campaign_id: int, halt: Halt) -> None:
    """A runner's watcher: stop it when the campaign leaves `running` (paused or cancelled by
    the CLI) or the daemon stops; meanwhile renew its claims every `renew_interval`."""
    loop = asyncio.get_running_loop()
    renewed = loop.time()
    while not halt.event.is_set():
        if halt.daemon.is_set():
            halt.event.set()
            return
        if loop.time() - renewed >= renew_interval(engine.app):
            renewed = await _renew(engine, campaign_id, renewed)
        try:
            campaign = await engine.store.get_campaign(campaign_id)
        except StoreError as exc:
            log.warning("cannot read campaign state: %s", exc, extra={"action": "db.error"})
        else:
            if campaign.status is not CampaignStatus.RUNNING:
                log.info(
                    "campaign %d is now %s: stopping its sends",
                    campaign_id,
                    campaign.status.value,
                    extra={"action": "campaign.stopping", "campaign_id": campaign_id},
                )
                halt.event.set()
                return
        stop_wait = asyncio.ensure_future(halt.daemon.wait())
        try:
            await asyncio.wait({stop_wait}, timeout=engine.app.poll_interval)
        finally:
            stop_wait.cancel()


async def _renew(engine: Engine, campaign_id: int, renewed: float) -> float:
    """Mark this runner's claims as alive; return when that was done (`renewed` if not)."""
    try:
        await engine.store.renew_claims(engine.owner, campaign_id, engine.clock())
    except StoreError as exc:
        log.warning("cannot renew claims: %s", exc, extra={"action": "db.error"})
        return renewed
    return asyncio.get_running_loop().time()


async def recover_at_start(
    store: Store, owner: str, now: dt.datetime, concurrency: int, claim_lease: dt.timedelta
) -> int:
    """Put back every claim older than the lease (and all of `owner`'s own): the daemon that
    held them stopped uncleanly. Returns how many recipients are sent again."""
    recovered = await store.recover_claims(owner, claim_lease, now)
    if recovered:
        log.warning(
            "recovered %d recipients claimed before an unclean stop; they are sent again "
            "(at most %d of them may have been delivered already)",
            recovered,
            concurrency,
            extra={"action": "daemon.recovered"},
        )
    return recovered


class StaleClaimSweep:
    """Once a renewal interval, put back the running campaigns' claims that nobody renewed
    within the lease: a daemon or worker that died while this one runs on. Live runners renew
    theirs (see `watch`); without this, those rows would wait for some daemon's restart, and a
    campaign would not finish meanwhile. The first call only starts the interval: the start-up
    recovery has just done the work."""

    def __init__(self, app: AppSettings | None = None) -> None:
        self._swept: float | None = None  # loop time of the last sweep
        self.app = app or AppSettings()  # the lease: replaced on reload

    async def __call__(
        self, store: Store, owner: str, campaign_ids: Iterable[int], now: dt.datetime
    ) -> None:
        mark = asyncio.get_running_loop().time()
        if self._swept is None:
            self._swept = mark
            return
        if mark - self._swept < renew_interval(self.app):
            return
        self._swept = mark
        for campaign_id in campaign_ids:
            try:
                recovered = await store.recover_stale_claims(
                    campaign_id, lease(self.app), owner, now
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
