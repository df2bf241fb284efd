"""GET and POST /optin/{token}: double opt-in confirmation; only a POST (the button) confirms.

A link names the lists it confirms (rendering.tokens layout 3) and confirms only those: a list
the subscriber was added to later needs its own confirmation. Links of earlier versions, which
named no list, are not valid any more.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from campaignd.domain import Subscriber
from campaignd.errors import InvalidToken, NotFound
from campaignd.http.context import HttpContext, context
from campaignd.http.limits import form_field
from campaignd.http.pages import invalid_link, page
from campaignd.rendering.tokens import verify

log = logging.getLogger(__name__)

FIELD, YES = "confirm", "yes"


async def _resolve(ctx: HttpContext, token: str) -> tuple[Subscriber, tuple[int, ...]] | None:
    try:
        data = verify(ctx.secret, "optin", token, ctx.previous_secrets)
        if data.list_ids is None:
            return None  # a link that names no list could confirm lists added later
        return await ctx.store.get_subscriber_by_uuid(data.subscriber_uuid), data.list_ids
    except (InvalidToken, NotFound):
        return None


async def show(request: Request) -> Response:
    if await _resolve(context(request), request.path_params["token"]) is None:
        return invalid_link()
    return page(
        "Confirm your subscription",
        ["Please confirm that you want to receive these emails."],
        form=(FIELD, YES, "Confirm subscription"),
    )


async def confirm(request: Request) -> Response:
    ctx = context(request)
    found = await _resolve(ctx, request.path_params["token"])
    if found is None:
        return invalid_link()
    subscriber, list_ids = found
    if await form_field(request, FIELD) != YES:
        return page(
            "Confirm your subscription",
            ["Nothing was changed. Use the button to confirm."],
            form=(FIELD, YES, "Confirm subscription"),
            status=400,
        )
    changed = await ctx.store.confirm_optin(subscriber.id, ctx.clock(), list_ids)
    log.info(
        "subscriber %d confirmed %d subscriptions (lists %s)",
        subscriber.id,
        changed,
        list(list_ids),
        extra={"action": "http.optin"},
    )
    return page("Subscription confirmed", ["Thank you: your subscription is confirmed."])
