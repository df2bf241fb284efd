"""The admin API's ASGI app: the endpoint table under /api/v1, a body limit, problem+json."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from campaignd import __version__
from campaignd.api import (
    campaign_changes,
    campaigns,
    imports,
    lists,
    messengers,
    subscriber_changes,
    subscribers,
    templates,
)
from campaignd.api.endpoints import PREFIX, ApiContext, Endpoint, handle
from campaignd.api.openapi import document
from campaignd.api.problems import problem
from campaignd.api.tokens import check_token
from campaignd.campaigns.trial import MessengerFactory
from campaignd.config import Settings
from campaignd.dashboard.routes import dashboard_routes
from campaignd.domain import utcnow
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

ENDPOINTS: list[Endpoint] = [
    *lists.ENDPOINTS,
    *subscribers.ENDPOINTS,
    *subscriber_changes.ENDPOINTS,
    *templates.ENDPOINTS,
    *campaigns.ENDPOINTS,
    *campaign_changes.ENDPOINTS,
    *messengers.ENDPOINTS,
    *imports.ENDPOINTS,
]


class _TooLarge(Exception):
    """The body went past the limit while it arrived."""


class ApiBodyLimit:
    """Refuse bodies over the limit with a 413 problem, whatever Content-Length claims: `limit`,
    or `upload_limit` for the CSV upload."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.upload_limit if path == PREFIX + "/imports" else self.limit
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                declared = int(value) if value.isdigit() else -1
                if declared < 0 or declared > limit:
                    await self._refuse(limit, scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"the request body is over {limit} bytes")
            return message

        await self.app(scope, limited, send)

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, f"the request body is over {limit} bytes")
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail), headers=exc.headers)


async def _gone(request: Request, exc: Exception) -> Response:
    return problem(400, "the client went away while sending the body")


def _by_method(
    methods: dict[str, Callable[[Request], Awaitable[Response]]],
) -> Callable[[Request], Awaitable[Response]]:
    async def respond(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await methods[method](request)

    return respond


def _guarded(endpoint: Endpoint, ctx: ApiContext) -> Callable[[Request], Awaitable[Response]]:
    inner = handle(endpoint, ctx)

    async def respond(request: Request) -> Response:
        try:
            return await inner(request)
        except (HTTPException, ClientDisconnect):
            raise
        except Exception:  # a bug: logged with its trace, never shown to the client
            log.exception(
                "%s %s failed", request.method, request.url.path, extra={"action": "api.bug"}
            )
            return problem(500, "internal error; the details are in the daemon's log")

    return respond


def create_api_app(
    store: Store,
    settings: Settings,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
    messengers: MessengerFactory | None = None,
) -> Starlette:
    """The admin API on `store`; served by the daemon on `[api] listen`."""
    if messengers is None:
        from campaignd.messengers.registry import build_messengers

        messengers = build_messengers
    ctx = ApiContext(store=store, settings=settings, clock=clock, messengers=messengers)
    spec = json.dumps(document(ENDPOINTS, __version__)).encode()

    async def openapi(request: Request) -> Response:
        return Response(spec, media_type="application/json")

    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for ep in ENDPOINTS:
        by_path.setdefault(ep.path, {})[ep.method] = _guarded(ep, ctx)
    # One route per path, so a wrong method's 405 lists every method the path has (Allow).
    routes = [
        Route(PREFIX + path, _by_method(methods), methods=list(methods))
        for path, methods in by_path.items()
    ]
    routes.append(Route(PREFIX + "/openapi.json", openapi, methods=["GET"]))
    routes += dashboard_routes(store, settings, lambda t: check_token(store, t), clock)
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                ApiBodyLimit,
                limit=settings.api.max_body_size,
                upload_limit=settings.api.max_import_size,
            )
        ],
        exception_handlers={HTTPException: _http_error, ClientDisconnect: _gone},
    )
    app.state.ctx = ctx
    return app
