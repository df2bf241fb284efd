"""GET /healthz (database reachable, scheduler ticking) and GET /metrics."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from campaignd.errors import CampaigndError
from campaignd.http.context import context
from campaignd.http.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0
_NO_CACHE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    ctx = context(request)
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(ctx.store.check_schema(), PROBE_TIMEOUT)
        checks["database"] = "ok"
    except (CampaigndError, TimeoutError) as exc:
        log.warning("health: database check failed: %s", exc, extra={"action": "http.health"})
        checks["database"] = "unavailable"  # no details: the reason may name the server
    if ctx.scheduler_alive is not None:
        checks["scheduler"] = "ok" if ctx.scheduler_alive() else "stalled"
    healthy = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if healthy else "unavailable", **checks}
    return JSONResponse(body, status_code=200 if healthy else 503, headers=_NO_CACHE)


async def metrics(request: Request) -> Response:
    ctx = context(request)
    try:
        campaigns = await asyncio.wait_for(ctx.store.campaigns(), PROBE_TIMEOUT)
    except (CampaigndError, TimeoutError):
        pass  # keep the last known values; the sending counters are still worth scraping
    else:
        ctx.metrics.set_campaigns(c.status for c in campaigns)
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE, headers=_NO_CACHE)
