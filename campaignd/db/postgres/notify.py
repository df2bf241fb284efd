"""LISTEN/NOTIFY on PostgreSQL: a campaign's state change reaches every daemon at once.

Every campaign transition on PostgreSQL sends ``NOTIFY campaignd_campaigns, '<id> <status>'``
in its own transaction (so it is delivered only if the change commits); each daemon holds
one extra connection that LISTENs and wakes its tick on each notification. The tick's poll
(app.poll_interval) stays as the fallback: a daemon whose listening connection dropped
still finds the change, and reconnects in the background. SQLite has no such channel: one
host, the poll is the way there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db.postgres.copyimport import connect, describe
from campaignd.errors import StoreError

log = logging.getLogger(__name__)

CHANNEL = "campaignd_campaigns"
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
#: Seconds between two attempts to listen again after the connection dropped.
RECONNECT_S = 5.0


async def notify_transition(conn: AsyncConnection, campaign_id: int, status: str) -> None:
    """Queue the notification in the caller's transaction (sent when it commits)."""
    await conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": f"{campaign_id} {status}"})


class CampaignListener:
    """Calls `on_change(campaign_id, status)` for each notification until `run` is cancelled."""

    def __init__(self, dsn: str, on_change: Callable[[int, str], None]) -> None:
        self.dsn = dsn
        self.on_change = on_change
        self.listening = asyncio.Event()  # set while a connection listens (for tests, health)

    async def run(self) -> None:
        down_logged = False
        while True:
            try:
                conn = await connect(self.dsn)
            except StoreError as exc:
                if not down_logged:
                    log.warning(
                        "cannot LISTEN for campaign changes (polling instead): %s",
                        exc,
                        extra={"action": "notify.down"},
                    )
                down_logged = True
                await asyncio.sleep(RECONNECT_S)
                continue
            try:
                await self._listen(conn, down_logged)
                down_logged = True
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 5)
            await asyncio.sleep(RECONNECT_S)

    async def _listen(self, conn: asyncpg.Connection, was_down: bool) -> None:
        """Listen on `conn` until it drops (logged)."""
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _c: lost.set())
            await conn.add_listener(CHANNEL, self._received)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("LISTEN failed (polling instead): %s", exc, extra={"action": "notify.down"})
            return
        self.listening.set()
        if was_down:
            log.info("listening for campaign changes again", extra={"action": "notify.up"})
        await lost.wait()
        log.warning(
            "the LISTEN connection to %s dropped (polling until it is back)",
            describe(self.dsn),
            extra={"action": "notify.down"},
        )

    def _received(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        campaign, _, status = payload.partition(" ")
        if campaign.isdigit():
            self.on_change(int(campaign), status)
