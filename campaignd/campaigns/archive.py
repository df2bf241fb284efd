"""The public archive: which campaigns may be read on the web, per campaign and per list.

A campaign is shown when it was created with --archive and is running or finished (a draft,
a scheduled, paused or cancelled one is not, so nothing leaks before it is sent or after it was
stopped); a list's index shows only for a public list.
"""

from __future__ import annotations

import uuid

from campaignd.domain import Campaign, CampaignStatus, MailingList
from campaignd.errors import NotFound
from campaignd.store.protocol import CampaignStore

SHOWN = frozenset({CampaignStatus.RUNNING, CampaignStatus.FINISHED})


def readable(campaign: Campaign) -> bool:
    return campaign.archive and campaign.status in SHOWN


async def archived(store: CampaignStore, campaign_uuid: uuid.UUID) -> Campaign:
    """Raise NotFound for a campaign that does not exist or is not shown (the same answer)."""
    campaign = await store.get_campaign_by_uuid(campaign_uuid)
    if not readable(campaign):
        raise NotFound("no such campaign")
    return campaign


async def list_archive(store: CampaignStore, mailing_list: MailingList) -> list[Campaign]:
    """The shown campaigns sent to a public list, newest first (empty for a list that is not
    public)."""
    if not mailing_list.public:
        return []
    found = [c for c in await store.campaigns() if readable(c) and mailing_list.id in c.list_ids]
    return sorted(found, key=lambda c: (c.started_at or c.created_at, c.id), reverse=True)
