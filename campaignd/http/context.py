"""What every request handler needs, built once by the app factory and kept on app.state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request

from campaignd.bounces.sns import SnsVerifier
from campaignd.bounces.suppression import Suppressor
from campaignd.campaigns.hits import HitRecorder
from campaignd.config import Settings
from campaignd.http.metrics import Metrics
from campaignd.rendering.tracking import TrackTokens
from campaignd.store.protocol import Store


@dataclass
class HttpContext:
    store: Store
    settings: Settings
    secret: str
    clock: Callable[[], dt.datetime]
    metrics: Metrics
    suppressor: Suppressor
    sns: SnsVerifier
    scheduler_alive: Callable[[], bool] | None = None
    #: security.previous_secrets: tokens signed with these still verify.
    previous_secrets: tuple[str, ...] = ()
    #: Opens and clicks: tokens are verified with track_tokens, hits buffered in `hits`.
    track_tokens: TrackTokens | None = None
    hits: HitRecorder | None = None


def context(request: Request) -> HttpContext:
    state: Any = request.app.state
    return cast(HttpContext, state.ctx)
