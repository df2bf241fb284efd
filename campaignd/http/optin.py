"""GET and POST /optin/{token}: double opt-in confirmation; only a POST (the button) confirms."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from campaignd.domain import Subscriber
from campaignd.errors import NotFound
from campaignd.http.context import HttpContext, context
from campaignd.http.limits import form_field
from campaignd.http.pages import invalid_link, page
from campaignd.rendering.tokens import InvalidToken, verify

log = logging.getLogger(__name__)

FIELD, YES = "confirm", "yes"


async def _resolve(ctx: HttpContext, token: str) -> Subscriber | None:
    try:
        data = verify(ctx.secret, "optin", token)
        return await ctx.store.get_subscriber_by_uuid(data.subscriber_uuid)
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
    subscriber = await _resolve(ctx, request.path_params["token"])
    if subscriber is None:
        return invalid_link()
    if await form_field(request, FIELD) != YES:
        return page(
            "Confirm your subscription",
            ["Nothing was changed. Use the button to confirm."],
            form=(FIELD, YES, "Confirm subscription"),
            status=400,
        )
    changed = await ctx.store.confirm_optin(subscriber.id, ctx.clock())
    log.info(
        "subscriber %d confirmed %d subscriptions",
        subscriber.id,
        changed,
        extra={"action": "http.optin"},
    )
    return page("Subscription confirmed", ["Thank you: your subscription is confirmed."])
