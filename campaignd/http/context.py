"""What every request handler needs, built once by the app factory and kept on app.state."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from starlette.requests import Request

from campaignd.bounces.sns import SnsVerifier
from campaignd.bounces.suppression import Suppressor
from campaignd.campaigns.hits import HitRecorder
from campaignd.config import Settings
from campaignd.http.clientlimit import CONFIRMATIONS_PER_HOUR, ClientLimiter
from campaignd.http.metrics import Metrics
from campaignd.messengers.protocol import Messenger
from campaignd.rendering.compose import CampaignMailer
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
    #: The messenger the public form's confirmation mails go through (None: not sent now;
    #: `campaignd optin send` sends them later).
    messenger: Callable[[], Messenger | None] = lambda: None
    #: POST /subscribe per client address.
    signups: ClientLimiter = field(default_factory=ClientLimiter)
    #: Confirmation mails the public form sends per email address (against mail bombing).
    confirmations: ClientLimiter = field(
        default_factory=lambda: ClientLimiter(CONFIRMATIONS_PER_HOUR, 3600.0)
    )
    #: The confirmation message, compiled at its first use.
    optin_mailer: CampaignMailer | None = None
    #: Archived campaigns compiled for their web view, by (uuid, updated_at).
    archive_mailers: dict[tuple[uuid.UUID, dt.datetime], CampaignMailer] = field(
        default_factory=dict
    )

    @property
    def base_path(self) -> str:
        """The path of app.root_url ("" at the root): links on our pages start with it."""
        return urlsplit(self.settings.app.root_url).path.rstrip("/")


def context(request: Request) -> HttpContext:
    state: Any = request.app.state
    return cast(HttpContext, state.ctx)
