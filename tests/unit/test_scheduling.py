"""campaignd.campaigns.scheduling: due campaigns start; one due longer than schedule_max_lag
ago stays scheduled, with one warning however often the tick looks."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from campaignd.campaigns.scheduling import DueCampaigns, DueReport
from campaignd.config import AppSettings
from campaignd.domain import CampaignStatus, NewCampaign
from campaignd.store.memory import MemoryStore

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
APP = AppSettings(
    root_url="https://news.example.com",
    from_email="News <news@example.com>",
    schedule_max_lag=3600,
)


async def schedule(store: MemoryStore, send_at: dt.datetime) -> int:
    new = NewCampaign(name="N", subject="Hi", from_email="n@example.com", body="b", lists=())
    campaign = await store.create_campaign(new, None)
    campaign_id = campaign.id
    await store.transition(
        campaign_id,
        frozenset({CampaignStatus.DRAFT}),
        CampaignStatus.SCHEDULED,
        now=NOW - dt.timedelta(days=1),
        send_at=send_at,
    )
    return campaign_id


async def test_due_campaigns_start_and_late_ones_stay_scheduled_warned_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    on_time = await schedule(store, NOW - dt.timedelta(minutes=5))
    too_late = await schedule(store, NOW - dt.timedelta(hours=2))
    future = await schedule(store, NOW + dt.timedelta(minutes=5))
    due = DueCampaigns()
    with caplog.at_level(logging.INFO):
        first = await due.start(store, NOW, APP)
        second = await due.start(store, NOW + dt.timedelta(seconds=1), APP)
    assert first == DueReport(started=(on_time,), too_late=(too_late,))
    assert second == DueReport(started=(), too_late=(too_late,))
    status = {c: (await store.get_campaign(c)).status for c in (on_time, too_late, future)}
    assert status == {
        on_time: CampaignStatus.RUNNING,
        too_late: CampaignStatus.SCHEDULED,
        future: CampaignStatus.SCHEDULED,
    }
    actions = [getattr(r, "action", "") for r in caplog.records]
    assert actions.count("campaign.too_late") == 1
    assert actions.count("campaign.started") == 1
