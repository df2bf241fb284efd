"""The ASGI app factory: routes, body limits, and error pages that reveal nothing."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from campaignd.bounces.sns import SnsVerifier, fetch_https
from campaignd.bounces.suppression import Suppressor
from campaignd.campaigns.hits import HitRecorder
from campaignd.config import Settings
from campaignd.domain import utcnow
from campaignd.errors import CampaigndError
from campaignd.http import (
    archive,
    bounces,
    health,
    manage,
    optin,
    subscribe,
    tracking,
    unsubscribe,
)
from campaignd.http.clientlimit import ClientLimiter
from campaignd.http.context import HttpContext
from campaignd.http.limits import BodyLimit
from campaignd.http.metrics import Metrics
from campaignd.messengers.protocol import Messenger
from campaignd.rendering.tracking import TrackTokens
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)


async def _store_failed(request: Request, exc: Exception) -> Response:
    log.error(
        "%s %s failed: %s",
        request.method,
        request.url.path.split("/")[1],  # not the rest: it may hold a token
        exc,
        extra={"action": "http.error"},
    )
    return PlainTextResponse(
        "temporarily unavailable, try again later\n", status_code=503, headers={"Retry-After": "60"}
    )


async def _gone(request: Request, exc: Exception) -> Response:
    """The client went away (or was cut off by the guard) while sending its body: nobody
    reads this answer, and it is no error of ours."""
    return PlainTextResponse("client disconnected\n", status_code=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code, headers=exc.headers)


#: Every public route: what a subscriber, a provider's webhook or a monitor reaches.
ROUTES = [
    Route("/unsubscribe/{token}", unsubscribe.show, methods=["GET"]),
    Route("/unsubscribe/{token}", unsubscribe.unsubscribe, methods=["POST"]),
    Route("/optin/{token}", optin.show, methods=["GET"]),
    Route("/optin/{token}", optin.confirm, methods=["POST"]),
    Route("/subscribe", subscribe.subscribe, methods=["POST"]),
    Route("/subscribe/{list_uuid}", subscribe.form, methods=["GET"]),
    Route("/manage/{token}", manage.show, methods=["GET"]),
    Route("/manage/{token}", manage.change, methods=["POST"]),
    Route("/archive/list/{list_uuid}", archive.list_page, methods=["GET"]),
    Route("/archive/{campaign_uuid}", archive.campaign_page, methods=["GET"]),
    Route("/archive/{campaign_uuid}/{token}", archive.own_page, methods=["GET"]),
    Route("/t/c/{token}", tracking.click, methods=["GET", "HEAD"]),
    Route("/t/o/{token}", tracking.pixel, methods=["GET", "HEAD"]),
    Route("/webhooks/ses", bounces.ses, methods=["POST"]),
    Route("/webhooks/sendgrid", bounces.sendgrid, methods=["POST"]),
    Route("/webhooks/postmark", bounces.postmark, methods=["POST"]),
    Route("/healthz", health.healthz, methods=["GET"]),
    Route("/metrics", health.metrics, methods=["GET"]),
]


def create_app(
    store: Store,
    settings: Settings,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
    metrics: Metrics | None = None,
    suppressor: Suppressor | None = None,
    fetch_cert: Callable[[str], Awaitable[bytes]] = fetch_https,
    scheduler_alive: Callable[[], bool] | None = None,
    messenger: Callable[[], Messenger | None] = lambda: None,
    signups: ClientLimiter | None = None,
    hits: HitRecorder | None = None,
) -> Starlette:
    """The subscriber-facing app on `store`; `messenger` gives the messenger the public form's
    confirmation mails go through, `signups` limits POST /subscribe per client, tracked opens
    and clicks go to `hits` (none recorded without it; links still work). Raises ConfigError
    without security.secret."""
    secret = settings.require_secret()
    ctx = HttpContext(
        store=store,
        settings=settings,
        secret=secret,
        clock=clock,
        metrics=metrics or Metrics(),
        suppressor=suppressor or Suppressor(store, settings.bounces, clock),
        sns=SnsVerifier(fetch_cert, clock),
        scheduler_alive=scheduler_alive,
        previous_secrets=settings.previous_secrets(),
        messenger=messenger,
        signups=signups or ClientLimiter(),
        track_tokens=TrackTokens(secret, settings.previous_secrets()),
        hits=hits,
    )
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(BodyLimit)],
        exception_handlers={
            CampaigndError: _store_failed,
            HTTPException: _http_error,
            ClientDisconnect: _gone,
        },
    )
    app.state.ctx = ctx
    return app
