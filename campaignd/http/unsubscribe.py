"""GET and POST /unsubscribe/{token}: RFC 8058 one-click unsubscribe, and the page for people.

GET only shows a page (mail scanners fetch links); POST with ``List-Unsubscribe=One-Click``
(what mailbox providers send, and what the page's button sends) unsubscribes the subscriber
from the campaign's lists, or from every list when the campaign no longer exists, and answers
200 without a redirect. Every unusable token gets the same 404 page.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from campaignd.domain import Hit, HitKind, Subscriber
from campaignd.errors import InvalidToken, NotFound
from campaignd.http.context import HttpContext, context
from campaignd.http.limits import form_field
from campaignd.http.pages import invalid_link, page
from campaignd.rendering.tokens import TokenData, verify

log = logging.getLogger(__name__)

FIELD, ONE_CLICK = "List-Unsubscribe", "One-Click"


async def _resolve(ctx: HttpContext, token: str) -> tuple[TokenData, Subscriber] | None:
    try:
        data = verify(ctx.secret, "unsub", token, ctx.previous_secrets)
        return data, await ctx.store.get_subscriber_by_uuid(data.subscriber_uuid)
    except (InvalidToken, NotFound):
        return None


async def show(request: Request) -> Response:
    ctx = context(request)
    if await _resolve(ctx, request.path_params["token"]) is None:
        return invalid_link()
    return page(
        "Unsubscribe",
        ["Do you want to stop receiving these emails?"],
        form=(FIELD, ONE_CLICK, "Unsubscribe"),
    )


async def unsubscribe(request: Request) -> Response:
    ctx = context(request)
    found = await _resolve(ctx, request.path_params["token"])
    if found is None:
        return invalid_link()
    if await form_field(request, FIELD) != ONE_CLICK:
        return page(
            "Unsubscribe",
            ["Nothing was changed. Use the button to unsubscribe."],
            form=(FIELD, ONE_CLICK, "Unsubscribe"),
            status=400,
        )
    data, subscriber = found
    list_ids: tuple[int, ...] | None = None
    campaign_id: int | None = None
    if data.campaign_uuid is not None:
        try:
            campaign = await ctx.store.get_campaign_by_uuid(data.campaign_uuid)
            list_ids, campaign_id = campaign.list_ids, campaign.id
        except NotFound:
            list_ids = None  # the campaign was deleted: every list, to be safe
    changed = await ctx.store.unsubscribe(subscriber.id, list_ids)
    ctx.metrics.unsubscribes.inc()
    if changed and campaign_id is not None and ctx.hits is not None:  # campaign statistics
        ctx.hits.add(Hit(campaign_id, HitKind.UNSUBSCRIBE, ctx.clock()))
    log.info(
        "subscriber %d unsubscribed from %s (%d subscriptions changed)",
        subscriber.id,
        "every list" if list_ids is None else f"lists {list(list_ids)}",
        changed,
        extra={"action": "http.unsubscribe"},
    )
    return page(
        "Unsubscribed", ["You have been unsubscribed. You will not get these emails again."]
    )
