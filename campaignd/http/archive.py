"""The public archive: GET /archive/{campaign_uuid} (sample data), GET /archive/{campaign_uuid}/
{token} (the subscriber's own data, from `{{ archive_url() }}`), GET /archive/list/{list_uuid}.

Only campaigns campaignd.campaigns.archive shows are served; anything else, and every unusable
token, gets the same 404 page. The campaign's HTML is served as it renders, under a
Content-Security-Policy that allows images and styles but no scripts, frames or forms.
"""

from __future__ import annotations

import logging
import uuid

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from campaignd.campaigns.archive import archived, list_archive
from campaignd.domain import Campaign, Recipient
from campaignd.errors import InvalidToken, NotFound, TemplateError
from campaignd.http.context import HttpContext, context
from campaignd.http.pages import SECURITY_HEADERS, invalid_link, page
from campaignd.rendering.compose import CampaignMailer
from campaignd.rendering.public_pages import render_page
from campaignd.rendering.tokens import verify
from campaignd.subscribers.public import public_list

log = logging.getLogger(__name__)

ARCHIVE_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": (
        "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline' https:; "
        "font-src https: data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
#: Campaigns compiled for the web view kept at once.
MAX_MAILERS = 32


async def _mailer(ctx: HttpContext, campaign: Campaign) -> CampaignMailer:
    key = (campaign.uuid, campaign.updated_at)
    cache = ctx.archive_mailers
    mailer = cache.get(key)
    if mailer is None:
        layout = None
        if campaign.template_id is not None:
            layout = await ctx.store.get_template_by_id(campaign.template_id)
        mailer = CampaignMailer.prepare(campaign, layout, ctx.settings.app, ctx.secret)
        if len(cache) >= MAX_MAILERS:
            cache.clear()
        cache[key] = mailer
    return mailer


async def _view(ctx: HttpContext, campaign: Campaign, recipient: Recipient | None) -> Response:
    try:
        mailer = await _mailer(ctx, campaign)
        html = mailer.web_view(recipient, ctx.clock())
    except TemplateError as exc:
        log.warning(
            "archive of campaign %d cannot be shown: %s",
            campaign.id,
            exc,
            extra={"action": "http.archive"},
        )
        return page("Not available", ["This campaign cannot be shown now."], status=500)
    return HTMLResponse(html, headers=ARCHIVE_HEADERS)


async def campaign_page(request: Request) -> Response:
    ctx = context(request)
    try:
        campaign = await archived(ctx.store, uuid.UUID(request.path_params["campaign_uuid"]))
    except (ValueError, NotFound):
        return invalid_link()
    return await _view(ctx, campaign, None)


async def own_page(request: Request) -> Response:
    ctx = context(request)
    try:
        campaign_uuid = uuid.UUID(request.path_params["campaign_uuid"])
        data = verify(ctx.secret, "archive", request.path_params["token"], ctx.previous_secrets)
        if data.campaign_uuid != campaign_uuid:
            return invalid_link()
        campaign = await archived(ctx.store, campaign_uuid)
        sub = await ctx.store.get_subscriber_by_uuid(data.subscriber_uuid)
    except (ValueError, InvalidToken, NotFound):
        return invalid_link()
    recipient = Recipient(
        0, campaign.id, sub.id, sub.uuid, sub.email, sub.name, dict(sub.attributes), 0
    )
    return await _view(ctx, campaign, recipient)


async def list_page(request: Request) -> Response:
    ctx = context(request)
    try:
        found = await public_list(ctx.store, uuid.UUID(request.path_params["list_uuid"]))
    except (ValueError, NotFound):
        return invalid_link()
    campaigns = [
        {
            "href": f"{ctx.base_path}/archive/{c.uuid}",
            "subject": c.subject if "{" not in c.subject else c.name,
            "date": (c.started_at or c.created_at).date().isoformat(),
        }
        for c in await list_archive(ctx.store, found)
    ]
    html = render_page(
        "archive",
        title=f"{found.name}: archive",
        description=found.description,
        campaigns=campaigns,
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)
