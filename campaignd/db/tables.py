"""The SQLModel tables: subscribers, lists, templates, campaigns, the ledger, bounces, tracking."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlmodel import Field, SQLModel

from campaignd.db.types import UtcDateTime

# Named constraints keep SQLite batch migrations and PostgreSQL in step.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata: MetaData = SQLModel.metadata


def _ts(nullable: bool = False) -> Any:
    return Field(sa_column=Column(UtcDateTime(), nullable=nullable))


def _fk(target: str) -> Any:
    return Field(
        sa_column=Column(Integer, ForeignKey(target, ondelete="CASCADE"), primary_key=True)
    )


class SubscriberRow(SQLModel, table=True):
    __tablename__ = "subscribers"

    id: int | None = Field(default=None, primary_key=True)
    uuid: UUID = Field(sa_column=Column(Uuid, nullable=False, unique=True))
    email: str = Field(sa_column=Column(String(320), nullable=False))
    # The address lowercased: uniqueness and look-ups are case-insensitive.
    email_key: str = Field(sa_column=Column(String(320), nullable=False, unique=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    attributes: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: dt.datetime = _ts()
    updated_at: dt.datetime = _ts()


class ListRow(SQLModel, table=True):
    __tablename__ = "lists"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    optin: str = Field(sa_column=Column(String(16), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    # Public lists are offered by the subscription form and the preference page, by uuid.
    uuid: UUID = Field(sa_column=Column(Uuid, nullable=False, unique=True))
    public: bool = Field(sa_column=Column(Boolean, nullable=False, server_default=false()))
    created_at: dt.datetime = _ts()
    updated_at: dt.datetime = _ts()


class SubscriptionRow(SQLModel, table=True):
    __tablename__ = "subscriptions"
    __table_args__ = (Index(None, "list_id", "status"),)

    subscriber_id: int = _fk("subscribers.id")
    list_id: int = _fk("lists.id")
    status: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: dt.datetime = _ts()
    updated_at: dt.datetime = _ts()


class TemplateRow(SQLModel, table=True):
    __tablename__ = "templates"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = _ts()
    updated_at: dt.datetime = _ts()


class CampaignRow(SQLModel, table=True):
    __tablename__ = "campaigns"
    __table_args__ = (Index(None, "status", "send_at"),)

    id: int | None = Field(default=None, primary_key=True)
    uuid: UUID = Field(sa_column=Column(Uuid, nullable=False, unique=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    subject: str = Field(sa_column=Column(Text, nullable=False))
    from_email: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    alt_body: str | None = Field(sa_column=Column(Text, nullable=True))
    content_type: str = Field(sa_column=Column(String(16), nullable=False))
    template_id: int | None = Field(
        sa_column=Column(Integer, ForeignKey("templates.id", ondelete="SET NULL"), nullable=True)
    )
    messenger: str = Field(sa_column=Column(String(200), nullable=False))
    headers: list[list[str]] = Field(sa_column=Column(JSON, nullable=False))  # [[name, value]]
    tags: list[str] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    send_at: dt.datetime | None = _ts(nullable=True)
    started_at: dt.datetime | None = _ts(nullable=True)
    finished_at: dt.datetime | None = _ts(nullable=True)
    pause_reason: str | None = Field(sa_column=Column(Text, nullable=True))
    # A filter expression (campaignd.filters) recipients must also match; None: everyone.
    segment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    send_errors: int = Field(sa_column=Column(Integer, nullable=False))
    # Readable in the public archive (/archive/...) once running or finished.
    archive: bool = Field(sa_column=Column(Boolean, nullable=False, server_default=false()))
    # What is tracked: ["opens", "clicks"] or a part of it (bounded by [tracking] mode).
    track: list[str] = Field(sa_column=Column(JSON, nullable=False, server_default="[]"))
    created_at: dt.datetime = _ts()
    updated_at: dt.datetime = _ts()


class CampaignListRow(SQLModel, table=True):
    __tablename__ = "campaign_lists"

    campaign_id: int = _fk("campaigns.id")
    list_id: int = _fk("lists.id")


class DeliveryRow(SQLModel, table=True):
    """The ledger: one row per campaign x subscriber, status per campaignd.domain.DeliveryStatus."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id"),
        # Claims: pending in id order; due deferred rows filtered inside the same index.
        Index(None, "campaign_id", "status", "id", "next_attempt_at"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    # No foreign keys here: rows are only ever made from existing campaigns and subscribers
    # (populate_ledger), and PostgreSQL's per-row FK triggers would double the populate time of
    # a million-row campaign.
    campaign_id: int = Field(sa_column=Column(Integer, nullable=False))
    subscriber_id: int = Field(sa_column=Column(Integer, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    attempts: int = Field(sa_column=Column(Integer, nullable=False))
    code: int | None = Field(sa_column=Column(Integer, nullable=True))
    enhanced: str | None = Field(sa_column=Column(String(16), nullable=True))
    text: str = Field(sa_column=Column(Text, nullable=False))
    message_id: str = Field(sa_column=Column(String(300), nullable=False))
    server: str | None = Field(sa_column=Column(String(300), nullable=True))
    claimed_by: str | None = Field(sa_column=Column(String(200), nullable=True))
    claimed_at: dt.datetime | None = _ts(nullable=True)
    next_attempt_at: dt.datetime | None = _ts(nullable=True)
    created_at: dt.datetime = _ts()
    updated_at: dt.datetime = _ts()


class BounceRow(SQLModel, table=True):
    """A bounce or complaint of one subscriber: from a send-time reply or a provider webhook."""

    __tablename__ = "bounces"
    __table_args__ = (
        Index(None, "subscriber_id", "type"),
        # A provider's retry of a webhook carries the same event id: recorded once.
        Index(None, "source", "event_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(
        sa_column=Column(Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False)
    )
    campaign_id: int | None = Field(sa_column=Column(Integer, nullable=True))
    type: str = Field(sa_column=Column(String(16), nullable=False))  # hard | soft | complaint
    source: str = Field(sa_column=Column(String(32), nullable=False))  # smtp | ses | ...
    reason: str = Field(sa_column=Column(Text, nullable=False))
    event_id: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    created_at: dt.datetime = _ts()


class OptinSendRow(SQLModel, table=True):
    """A double opt-in confirmation message was sent to this subscriber (never sent twice)."""

    __tablename__ = "optin_sends"

    subscriber_id: int = _fk("subscribers.id")
    sent_at: dt.datetime = _ts()


class ApiTokenRow(SQLModel, table=True):
    """An admin API token: the hex SHA-256 of its secret, never the secret."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    read_only: bool = Field(sa_column=Column(Boolean, nullable=False))
    created_at: dt.datetime = _ts()


class TrackCountRow(SQLModel, table=True):
    """Opens and clicks counted per campaign, kind, link and minute: no subscriber (anonymous)."""

    __tablename__ = "track_counts"

    campaign_id: int = Field(sa_column=Column(Integer, primary_key=True))
    kind: str = Field(sa_column=Column(String(16), primary_key=True))  # open | click | ...
    machine: bool = Field(sa_column=Column(Boolean, primary_key=True))
    url: str = Field(sa_column=Column(Text, primary_key=True))  # "" unless a click
    minute: dt.datetime = Field(sa_column=Column(UtcDateTime(), primary_key=True))
    hits: int = Field(sa_column=Column(Integer, nullable=False))


class TrackEventRow(SQLModel, table=True):
    """One hit with its subscriber: only written in [tracking] mode = "individual"."""

    __tablename__ = "track_events"
    __table_args__ = (Index(None, "campaign_id", "kind", "subscriber_id"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    campaign_id: int = Field(sa_column=Column(Integer, nullable=False))
    subscriber_id: int = Field(sa_column=Column(Integer, nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    machine: bool = Field(sa_column=Column(Boolean, nullable=False))
    url: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = _ts()


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


subscribers = _table(SubscriberRow)
lists = _table(ListRow)
subscriptions = _table(SubscriptionRow)
templates = _table(TemplateRow)
campaigns = _table(CampaignRow)
campaign_lists = _table(CampaignListRow)
deliveries = _table(DeliveryRow)
bounces = _table(BounceRow)
optin_sends = _table(OptinSendRow)
api_tokens = _table(ApiTokenRow)
track_counts = _table(TrackCountRow)
track_events = _table(TrackEventRow)
