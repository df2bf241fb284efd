"""/api/v1/campaigns/{id}: update, statistics, clone and delete, by the CLI's use cases."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field

from campaignd.api.campaigns import Header, Short, Source
from campaignd.api.endpoints import Call, Endpoint
from campaignd.api.schemas import Body, Id, Name, Text
from campaignd.campaigns import manage
from campaignd.campaigns.lifecycle import CampaignSummary, campaign_summary
from campaignd.campaigns.stats import CampaignStats, campaign_stats
from campaignd.domain import ContentType, as_utc
from campaignd.errors import NotFound

Removable = Annotated[Text, Field(max_length=200)]  # "" removes the template


class CampaignChange(Body):
    """Only the fields given change (as `campaigns update`); an empty alt_body, template or
    segment removes it."""

    name: Name | None = None
    subject: Short | None = None
    from_email: Annotated[Text, Field(max_length=1000)] | None = None
    lists: Annotated[list[Id], Field(min_length=1, max_length=1000)] | None = None
    body: Source | None = None
    alt_body: Source | None = None
    content_type: ContentType | None = None
    template: Removable | None = None
    messenger: Name | None = None
    headers: Annotated[list[Header], Field(max_length=100)] | None = None
    tags: Annotated[list[Name], Field(max_length=100)] | None = None
    send_at: AwareDatetime | None = None
    segment: Annotated[Text, Field(max_length=10_000)] | None = None


class CloneBody(Body):
    name: Name | None = Field(default=None, description='default "Copy of NAME"')


async def _summary(call: Call, campaign_id: int) -> CampaignSummary:
    campaign = await call.store.get_campaign(campaign_id)
    return await campaign_summary(call.store, campaign, await call.store.list_names())


async def _changes(call: Call, b: CampaignChange) -> manage.CampaignChanges:
    lists = None
    if b.lists is not None:
        names = await call.store.list_names()
        missing = [i for i in dict.fromkeys(b.lists) if i not in names]
        if missing:
            raise NotFound(f"no list with id {', '.join(map(str, missing))}", field="lists")
        lists = tuple(names[i] for i in dict.fromkeys(b.lists))
    return manage.CampaignChanges(
        name=b.name,
        subject=b.subject,
        from_email=b.from_email,
        body=b.body,
        alt_body=b.alt_body,
        content_type=b.content_type,
        lists=lists,
        template=b.template,
        messenger=b.messenger,
        headers=None if b.headers is None else tuple((h.name, h.value) for h in b.headers),
        tags=None if b.tags is None else tuple(dict.fromkeys(b.tags)),
        send_at=as_utc(b.send_at, "send_at") if b.send_at else None,
        segment=b.segment,
    )


async def update_campaign(call: Call) -> CampaignSummary:
    from campaignd.messengers.registry import messenger_names

    cid = call.ids["campaign_id"]
    changes = await _changes(call, call.body)
    await manage.update_campaign(
        call.store, cid, changes, call.settings.app, messenger_names(call.settings), call.now()
    )
    return await _summary(call, cid)


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
    Endpoint("PATCH", ONE, update_campaign,
             "Change a draft, scheduled or paused campaign, checked as on create",
             CampaignSummary, "campaigns", body=CampaignChange, write=True,
             statuses=(404, 409)),
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
