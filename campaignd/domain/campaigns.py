"""Campaigns and their templates: status, content type, the campaign as created and as stored,
its ledger counts."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class ContentType(StrEnum):
    HTML = "html"
    MARKDOWN = "markdown"
    PLAIN = "plain"


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    name: str
    body: str
    created_at: dt.datetime
    updated_at: dt.datetime | None = None  # when the body was last set (added or replaced)


@dataclass(frozen=True, slots=True)
class NewCampaign:
    name: str
    subject: str
    from_email: str
    body: str
    lists: tuple[str, ...]
    alt_body: str | None = None
    content_type: ContentType = ContentType.HTML
    template: str | None = None
    messenger: str = "email"
    headers: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    send_at: dt.datetime | None = None
    segment: str | None = None  # a filter expression recipients must also match
    #: Readable in the public archive once running or finished (campaigns create --archive).
    archive: bool = False
    track: tuple[str, ...] = ()  # "opens", "clicks" (TRACK_OPTIONS)


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    uuid: uuid.UUID
    name: str
    subject: str
    from_email: str
    body: str
    alt_body: str | None
    content_type: ContentType
    template_id: int | None
    messenger: str
    headers: tuple[tuple[str, str], ...]
    tags: tuple[str, ...]
    status: CampaignStatus
    send_at: dt.datetime | None
    list_ids: tuple[int, ...]
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    pause_reason: str | None = None
    send_errors: int = 0
    segment: str | None = None  # a filter expression recipients must also match
    archive: bool = False
    track: tuple[str, ...] = ()  # "opens", "clicks" (TRACK_OPTIONS)


@dataclass(frozen=True, slots=True)
class CampaignCounts:
    """Exact per-status counts from the ledger."""

    to_send: int = 0
    pending: int = 0
    claimed: int = 0
    deferred: int = 0
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0

    @property
    def remaining(self) -> int:
        return self.pending + self.claimed + self.deferred
