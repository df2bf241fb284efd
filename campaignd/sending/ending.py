"""How a campaign runner ends: the stop it obeys, the pauses it decides, finishing when done.

A runner stops when its campaign leaves `running`, when the daemon stops, or when it decides
to pause the campaign: authentication refused, no server reachable for a while, too many
messages that cannot be built, too many send errors. The first reason wins; the pause is
applied once the runner's messages in flight are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from campaignd.domain import CampaignStatus, SendOutcome
from campaignd.errors import TransitionRefused
from campaignd.sending.engine import Engine

log = logging.getLogger(__name__)

_RUNNING = frozenset({CampaignStatus.RUNNING})


class Halt:
    """One runner's stop: its own event (set by its pause decisions and its watcher), the
    daemon's, and the pause reason it asked for."""

    __slots__ = ("daemon", "event", "reason")

    def __init__(self, daemon_stopping: asyncio.Event) -> None:
        self.event = asyncio.Event()
        self.daemon = daemon_stopping
        self.reason: str | None = None

    def stopped(self) -> bool:
        return self.event.is_set() or self.daemon.is_set()

    def pause(self, reason: str) -> None:
        """Stop, and pause the campaign once drained; an earlier reason is kept."""
        if self.reason is None:
            self.reason = reason
            self.event.set()

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`, less if this runner stops meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), seconds)


# -- the pause decisions (pure) ----------------------------------------------------------------
def auth_failure(outcome: SendOutcome) -> str:
    """The server refused our credentials: every message would fail the same way."""
    where = f" on {outcome.server}" if outcome.server else ""
    code = f"{outcome.code} " if outcome.code else ""
    return f"authentication failed{where}: {code}{outcome.text}"


def render_failures(count: int, limit: int, error: str) -> str | None:
    """After app.max_render_failures messages in a row could not be built: the template fails
    everyone (a limit, a bomb, a broken expression); the recipients not yet tried stay pending
    for a resume after the template is fixed."""
    if not limit or count < limit:
        return None
    return (
        f"{count} messages in a row could not be built (max_render_failures={limit}); last: {error}"
    )


def send_errors(errors: int, limit: int, last_error: str) -> str | None:
    """After app.max_send_errors sender-side errors of one campaign."""
    if not limit or errors < limit:
        return None
    return f"{errors} send errors (max_send_errors={limit}); last: " + (last_error or "unknown")


# -- the campaign's transitions ------------------------------------------------------------------
async def pause(engine: Engine, campaign_id: int, reason: str) -> None:
    """Pause a running campaign (nothing if it left `running` meanwhile)."""
    try:
        await engine.store.transition(
            campaign_id, _RUNNING, CampaignStatus.PAUSED, now=engine.clock(), reason=reason
        )
    except TransitionRefused:
        return
    log.error(
        "campaign %d paused: %s",
        campaign_id,
        reason,
        extra={"action": "campaign.paused", "campaign_id": campaign_id},
    )


async def finish_or_wait(engine: Engine, campaign_id: int, halt: Halt) -> bool:
    """Nothing claimable, nothing in flight, every recipient in the ledger: finish if nothing
    is left, else wait for the next retry (at most a poll interval). True when done."""
    store = engine.store
    counts = await store.counts(campaign_id)
    if counts.remaining == 0:
        try:
            await store.transition(
                campaign_id, _RUNNING, CampaignStatus.FINISHED, now=engine.clock()
            )
        except TransitionRefused:
            return True  # paused or cancelled meanwhile
        log.info(
            "campaign %d finished: %d sent, %d failed, %d unknown, %d skipped",
            campaign_id,
            counts.sent,
            counts.failed,
            counts.unknown,
            counts.skipped,
            extra={"action": "campaign.finished", "campaign_id": campaign_id},
        )
        return True
    next_at = await store.next_retry_at(campaign_id)
    delay = engine.app.poll_interval
    if next_at is not None:
        delay = min(delay, max(0.0, (next_at - engine.clock()).total_seconds()))
    await halt.sleep(max(delay, 0.01))
    return False
