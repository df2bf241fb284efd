"""The daemon's periodic progress lines, systemd STATUS and WATCHDOG pings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from campaignd.daemon.sdnotify import Notifier
from campaignd.sending.runner import CampaignRunner

log = logging.getLogger(__name__)

PROGRESS_EVERY = 10.0


async def report(runners: Mapping[int, tuple[CampaignRunner, object]], notifier: Notifier) -> None:
    """Every PROGRESS_EVERY seconds one line per running campaign and the systemd status;
    the watchdog is pinged more often when systemd asks for it. Runs until cancelled."""
    interval = PROGRESS_EVERY
    if notifier.watchdog_interval:
        interval = min(interval, notifier.watchdog_interval)
    last_log = 0.0
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        notifier.watchdog()
        if loop.time() - last_log < PROGRESS_EVERY:
            continue
        last_log = loop.time()
        parts = [
            _line(campaign_id, runner, loop.time())
            for campaign_id, (runner, _) in sorted(runners.items())
        ]
        notifier.status("sending " + "; ".join(parts) if parts else "idle")


def _line(campaign_id: int, runner: CampaignRunner, now: float) -> str:
    """Log one campaign's progress; its part of the systemd status."""
    elapsed = max(1e-9, now - runner.started)
    tally = runner.tally
    done = tally.sent + tally.failed + tally.unknown
    rate = done / elapsed
    left = max(0, runner.total - done)
    eta = f"{left / rate:.0f}s" if rate > 0 else "?"
    log.info(
        "campaign %d: sent %d, failed %d, deferred %d of %d; %.1f msg/s, ETA %s",
        campaign_id,
        tally.sent,
        tally.failed,
        tally.deferred,
        runner.total,
        rate,
        eta,
        extra={"action": "campaign.progress", "campaign_id": campaign_id},
    )
    return f"#{campaign_id} {done}/{runner.total} ({rate:.0f}/s, eta {eta})"
