"""/api/v1/campaigns: create, list, show with exact counts, state changes, failures,
retry-failed, test sends and the preview."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field

from campaignd.api.endpoints import Call, Endpoint
from campaignd.api.schemas import MAX_SOURCE, Body, Id, Name, Page, PageQuery, Query, Text, page
from campaignd.campaigns import lifecycle, trial
from campaignd.campaigns.lifecycle import CampaignSummary, campaign_summary
from campaignd.config import DEFAULT_POOL
from campaignd.domain import ContentType, Failure, NewCampaign, as_utc
from campaignd.errors import NotFound

Short = Annotated[Text, Field(max_length=2000)]
Source = Annotated[Text, Field(max_length=MAX_SOURCE)]


class Header(Body):
    name: Name
    value: Short


class NewCampaignBody(Body):
    name: Name
    subject: Short
    from_email: Annotated[Text, Field(max_length=1000)] | None = None  # default app.from_email
    lists: Annotated[list[Id], Field(min_length=1, max_length=1000)]
    body: Source
    alt_body: Source | None = None
    content_type: ContentType = ContentType.HTML
    template: Name | None = None
    messenger: Name = DEFAULT_POOL
    headers: Annotated[list[Header], Field(max_length=100)] = Field(default_factory=list)
    tags: Annotated[list[Name], Field(max_length=100)] = Field(default_factory=list)
    send_at: AwareDatetime | None = None


class Action(Body):
    send_at: AwareDatetime | None = None  # schedule only
    force: bool = False  # start and schedule: although recipients lack attributes


class Retried(BaseModel):
    queued: int


class TestBody(Body):
    to: Annotated[list[Annotated[Text, Field(min_length=1, max_length=320)]],
                  Field(min_length=1, max_length=20)]  # fmt: skip


class PreviewQuery(Query):
    subscriber: Annotated[Text, Field(min_length=1, max_length=320)] | None = None


class PreviewOut(BaseModel):
    note: str
    message: str


async def _summary(call: Call, campaign_id: int) -> CampaignSummary:
    campaign = await call.store.get_campaign(campaign_id)
    return await campaign_summary(call.store, campaign, await call.store.list_names())


async def list_campaigns(call: Call) -> Page[CampaignSummary]:
    chosen = page(await call.store.campaigns(), lambda c: c.id, call.query)
    names = await call.store.list_names()
    items = [await campaign_summary(call.store, c, names) for c in chosen.items]
    return Page[CampaignSummary](items=items, next_after=chosen.next_after)


async def get_campaign(call: Call) -> CampaignSummary:
    return await _summary(call, call.ids["campaign_id"])


async def create_campaign(call: Call) -> CampaignSummary:
    from campaignd.messengers.registry import messenger_names

    b: NewCampaignBody = call.body
    names = await call.store.list_names()
    missing = [i for i in dict.fromkeys(b.lists) if i not in names]
    if missing:
        raise NotFound(f"no list with id {', '.join(map(str, missing))}", field="lists")
    new = NewCampaign(
        name=b.name,
        subject=b.subject,
        from_email=b.from_email or call.settings.app.from_email,
        body=b.body,
        alt_body=b.alt_body,
        lists=tuple(names[i] for i in dict.fromkeys(b.lists)),
        content_type=b.content_type,
        template=b.template,
        messenger=b.messenger,
        headers=tuple((h.name, h.value) for h in b.headers),
        tags=tuple(dict.fromkeys(b.tags)),
        send_at=as_utc(b.send_at, "send_at") if b.send_at else None,
    )
    created = await lifecycle.create_campaign(
        call.store, new, call.settings.app, messenger_names(call.settings)
    )
    return await _summary(call, created.id)


def _action(action: str) -> Endpoint:
    async def handler(call: Call) -> CampaignSummary:
        body: Action = call.body
        when = as_utc(body.send_at, "send_at") if body.send_at else None
        await lifecycle.apply_action(
            call.store,
            call.ids["campaign_id"],
            action,
            call.now(),
            when,
            app=call.settings.app,
            force=body.force,
        )
        return await _summary(call, call.ids["campaign_id"])

    handler.__name__ = f"{action}_campaign"
    return Endpoint("POST", f"/campaigns/{{campaign_id}}/{action}", handler,
                    f"{action.capitalize()} the campaign", CampaignSummary, "campaigns",
                    body=Action, write=True, statuses=(404, 409))  # fmt: skip


async def campaign_failures(call: Call) -> list[Failure]:
    await call.store.get_campaign(call.ids["campaign_id"])
    return await call.store.failures(call.ids["campaign_id"])


async def retry_failed(call: Call) -> Retried:
    return Retried(
        queued=await lifecycle.retry_failed(call.store, call.ids["campaign_id"], call.now())
    )


async def test_campaign(call: Call) -> list[trial.TestSend]:
    from campaignd.addresses import normalize_email

    body: TestBody = call.body
    to = [normalize_email(a) for a in dict.fromkeys(body.to)]
    return await trial.send_tests(
        call.store, call.settings, call.ids["campaign_id"], to, call.now(), call.ctx.messengers
    )


async def preview_campaign(call: Call) -> PreviewOut:
    shown = await trial.preview(
        call.store, call.settings, call.ids["campaign_id"], call.query.subscriber, call.now()
    )
    return PreviewOut(note=shown.note, message=shown.message)


ONE = "/campaigns/{campaign_id}"
ENDPOINTS = [
    Endpoint("GET", "/campaigns", list_campaigns, "Campaigns with exact counts",
             Page[CampaignSummary], "campaigns", query=PageQuery),
    Endpoint("POST", "/campaigns", create_campaign, "Create a draft campaign", CampaignSummary,
             "campaigns", body=NewCampaignBody, status=201, write=True, idempotent=True,
             statuses=(404, 409)),
    Endpoint("GET", ONE, get_campaign, "A campaign with exact counts from the ledger",
             CampaignSummary, "campaigns", statuses=(404,)),
    *(_action(a) for a in ("start", "schedule", "pause", "resume", "cancel", "unschedule")),
    Endpoint("GET", ONE + "/failures", campaign_failures,
             "Recipients that failed, wait for a retry or whose outcome is unknown",
             list[Failure], "campaigns", statuses=(404,)),
    Endpoint("POST", ONE + "/retry-failed", retry_failed, "Queue the failed recipients again",
             Retried, "campaigns", write=True, statuses=(404, 409)),
    Endpoint("POST", ONE + "/test", test_campaign,
             "Send to test addresses now (no ledger)", list[trial.TestSend], "campaigns",
             body=TestBody, write=True, statuses=(404, 502)),
    Endpoint("GET", ONE + "/preview", preview_campaign, "The message as it would be sent",
             PreviewOut, "campaigns", query=PreviewQuery, statuses=(404,)),
]  # fmt: skip
