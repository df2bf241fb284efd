"""/api/v1/campaigns/{id}: statistics, clone and delete, by the CLI's use cases."""

from __future__ import annotations

from pydantic import Field

from campaignd.api.endpoints import Call, Endpoint
from campaignd.api.schemas import Body, Name
from campaignd.campaigns import manage
from campaignd.campaigns.lifecycle import CampaignSummary, campaign_summary
from campaignd.campaigns.stats import CampaignStats, campaign_stats


class CloneBody(Body):
    name: Name | None = Field(default=None, description='default "Copy of NAME"')


async def _summary(call: Call, campaign_id: int) -> CampaignSummary:
    campaign = await call.store.get_campaign(campaign_id)
    return await campaign_summary(call.store, campaign, await call.store.list_names())


async def stats_campaign(call: Call) -> CampaignStats:
    return await campaign_stats(
        call.store, call.ids["campaign_id"], call.settings.tracking.mode, call.now()
    )


async def clone_campaign(call: Call) -> CampaignSummary:
    from campaignd.messengers.registry import messenger_names

    body: CloneBody = call.body
    name = body.name.strip() if body.name else None
    made = await manage.clone_campaign(
        call.store,
        call.ids["campaign_id"],
        call.settings.app,
        messenger_names(call.settings),
        call.now(),
        name=name or None,
    )
    return await _summary(call, made.id)


async def delete_campaign(call: Call) -> CampaignSummary:
    cid = call.ids["campaign_id"]
    before = await _summary(call, cid)
    await manage.delete_campaign(call.store, cid)
    return before


ONE = "/campaigns/{campaign_id}"
ENDPOINTS = [
    Endpoint("GET", ONE + "/stats", stats_campaign,
             "Sent, failed, bounces, unsubscribes, opens and clicks, over time",
             CampaignStats, "campaigns", statuses=(404,)),
    Endpoint("POST", ONE + "/clone", clone_campaign,
             "A new draft with the campaign's content, lists, template and headers",
             CampaignSummary, "campaigns", body=CloneBody, status=201, write=True,
             statuses=(404, 409)),
    Endpoint("DELETE", ONE, delete_campaign,
             "Delete a draft, finished or cancelled campaign with its ledger; 409 otherwise",
             CampaignSummary, "campaigns", write=True, statuses=(404, 409)),
]  # fmt: skip
