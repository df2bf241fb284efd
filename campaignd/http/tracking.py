"""GET /t/c/{token} (a tracked click: 302 to its signed target) and GET/HEAD /t/o/{token} (the
1x1 open pixel). A forged or altered token gets the 404 page, never a redirect. Hits go to the
HitRecorder's buffer (campaignd.campaigns.hits); a click still redirects when tracking is off
or the buffer is full, so links in mail already sent keep working."""

from __future__ import annotations

import base64
import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from campaignd.campaigns.hits import Request as HitRequest
from campaignd.domain import Hit, HitKind
from campaignd.errors import InvalidToken
from campaignd.http.context import HttpContext, context
from campaignd.http.pages import invalid_link
from campaignd.rendering.tracking import TrackData

log = logging.getLogger(__name__)

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {
    "Cache-Control": "no-store, max-age=0",
    "Referrer-Policy": "no-referrer",  # the target never sees the token
    "X-Content-Type-Options": "nosniff",
}


def client_ip(ctx: HttpContext, request: Request) -> str:
    """The peer, or the last X-Forwarded-For hop when the peer is one of http.proxy_addresses."""
    peer = request.client.host if request.client is not None else ""
    if peer in ctx.settings.http.proxy_addresses:
        forwarded = request.headers.get("x-forwarded-for", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return peer


def _record(ctx: HttpContext, request: Request, data: TrackData) -> None:
    now = ctx.clock()
    if ctx.hits is None:
        return
    seen = HitRequest(
        request.method, request.headers.get("user-agent", ""), client_ip(ctx, request)
    )
    machine = ctx.hits.rules.is_machine(data.kind, seen, data.built_at, now)
    hit = Hit(data.campaign_id, data.kind, now, machine, data.url, data.subscriber_id)
    if ctx.hits.add(hit):
        counter = ctx.metrics.opens if data.kind is HitKind.OPEN else ctx.metrics.clicks
        counter.labels("true" if machine else "false").inc()


def _verify(ctx: HttpContext, token: str, kind: HitKind) -> TrackData | None:
    if ctx.track_tokens is None:
        return None
    try:
        data = ctx.track_tokens.verify(token)
    except InvalidToken:
        return None
    return data if data.kind is kind else None


async def click(request: Request) -> Response:
    ctx = context(request)
    data = _verify(ctx, request.path_params["token"], HitKind.CLICK)
    if data is None:
        return invalid_link()
    _record(ctx, request, data)
    return RedirectResponse(data.url, status_code=302, headers=_NO_STORE)


async def pixel(request: Request) -> Response:
    ctx = context(request)
    data = _verify(ctx, request.path_params["token"], HitKind.OPEN)
    if data is None:
        return invalid_link()
    _record(ctx, request, data)
    return Response(GIF, media_type="image/gif", headers=_NO_STORE)
