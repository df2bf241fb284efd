"""Wake the tick when a campaign changes elsewhere: LISTEN/NOTIFY on PostgreSQL, else nothing
(the tick's poll every app.poll_interval is the way on SQLite, and the fallback everywhere)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from campaignd.daemon.scheduler import Ticker

log = logging.getLogger(__name__)


def listen(db_url: str, ticker: Ticker, stopping: asyncio.Event) -> Coroutine[Any, Any, None]:
    """The listening task: on PostgreSQL, a campaign started, paused or cancelled by the CLI,
    the API or another daemon wakes this daemon's tick; on SQLite it has nothing to do."""
    from campaignd.db.postgres.copyimport import postgres_dsn

    dsn = postgres_dsn(db_url)
    if dsn is None:
        return _nothing()
    from campaignd.db.postgres.notify import CampaignListener

    def changed(campaign_id: int, status: str) -> None:
        if ticker.running and not stopping.is_set():
            log.debug(
                "campaign %d is now %s: ticking now",
                campaign_id,
                status,
                extra={"action": "notify.received", "campaign_id": campaign_id},
            )
            ticker.wake()

    return CampaignListener(dsn, changed).run()


async def _nothing() -> None:
    return None
