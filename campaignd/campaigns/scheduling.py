"""Starting scheduled campaigns when they are due, unless they are too late (schedule_max_lag)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from campaignd.config import AppSettings
from campaignd.domain import CampaignStatus
from campaignd.errors import TransitionRefused
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DueReport:
    """What one look at the due campaigns did."""

    started: tuple[int, ...] = ()
    too_late: tuple[int, ...] = ()  # due longer than schedule_max_lag ago: left scheduled


@dataclass
class DueCampaigns:
    """Starts scheduled campaigns whose time has come. One due more than `app.schedule_max_lag`
    ago (the daemon was down at its time) stays scheduled for the operator to start, with one
    warning per campaign for as long as this object lives (the daemon's lifetime)."""

    _warned: set[int] = field(default_factory=set)

    async def start(self, store: Store, now: dt.datetime, app: AppSettings) -> DueReport:
        """Start what is due at `now`; store errors propagate (nothing is half-done: each
        campaign's start is one transition)."""
        max_lag = dt.timedelta(seconds=app.schedule_max_lag)
        started: list[int] = []
        too_late: list[int] = []
        for campaign in await store.due_campaigns(now):
            assert campaign.send_at is not None
            if now - campaign.send_at > max_lag:
                too_late.append(campaign.id)
                if campaign.id not in self._warned:
                    self._warned.add(campaign.id)
                    log.warning(
                        "campaign %d was due at %s, more than schedule_max_lag ago; it stays "
                        "scheduled: start it with `campaignd campaigns start %d`",
                        campaign.id,
                        campaign.send_at.isoformat(),
                        campaign.id,
                        extra={"action": "campaign.too_late", "campaign_id": campaign.id},
                    )
                continue
            try:
                await store.transition(
                    campaign.id,
                    frozenset({CampaignStatus.SCHEDULED}),
                    CampaignStatus.RUNNING,
                    now=now,
                )
            except TransitionRefused:
                continue  # another daemon took it, or the operator changed it
            started.append(campaign.id)
            log.info(
                "campaign %d started (scheduled for %s)",
                campaign.id,
                campaign.send_at.isoformat(),
                extra={"action": "campaign.started", "campaign_id": campaign.id},
            )
        return DueReport(tuple(started), tuple(too_late))
