"""The storage seam: what the use cases ask of the database, as focused protocols.

``Store`` is their union, for the composition root (daemon/, cli/); a use case or handler may
type its parameter with the narrow protocol it uses:

    SchemaStore      check_schema, close
    CampaignStore    templates; campaign rows, look-ups, updates and deletes guarded by status,
                     compare-and-set transitions
    LedgerStore      the delivery ledger (below), its counts and failures, the send-error
                     counter the recorder bumps with the outcomes, the audience preflight
                     (eligible count, attributes recipients lack)
    SubscriberStore  lists, subscribers, subscriptions, opt-in (ImportStore is its import part)
    BounceStore      recorded bounces: adding one, counts per campaign, listing them
    TrackingStore    opens and clicks (batched), and the figures of campaign statistics
    ApiTokenStore    admin API tokens (hashes only)

Two implementations pass the same contract suite (tests/integration/test_store_*.py) and
implement every focused protocol (tests/integration/test_store_protocols.py): ``SqlStore``
(SQLite or PostgreSQL through SQLAlchemy) and ``MemoryStore`` (the in-memory twin). The rules
both must agree on are in campaignd.rules.

Ledger life cycle (one row per campaign x eligible subscriber):

    populate_ledger          -> pending
    claim_batch              pending | deferred(due) -> claimed   (owner = instance id)
    record_deliveries        claimed -> sent | failed | deferred | unknown
    claim_batch (ineligible) -> skipped   (unsubscribed/blocklisted since the campaign started)
    renew_claims             claimed -> claimed   (claimed_at = now: the owner is alive)
    release_claims           claimed -> pending   (graceful stop: nothing was in flight)
    recover_claims           claimed by a dead owner -> pending   (after a crash; may duplicate
                             at most the messages that were in flight, bounded by concurrency)
    recover_stale_claims     claimed, not renewed within the lease -> pending   (a daemon or
                             worker died while others run on)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Protocol

from campaignd.domain import (
    Bounce,
    BounceCounts,
    Campaign,
    CampaignCounts,
    CampaignStatus,
    DeliveryRecord,
    Failure,
    ImportCounts,
    ImportOptions,
    MailingList,
    NewCampaign,
    NewSubscriber,
    OptIn,
    Recipient,
    Subscriber,
    SubscriberStatus,
    SubscriptionDay,
    SubscriptionStatus,
    Template,
)
from campaignd.filters import Node
from campaignd.store.people_protocol import PeopleStore
from campaignd.store.tokens_protocol import ApiTokenStore
from campaignd.store.tracking_protocol import TrackingStore


class SchemaStore(Protocol):
    """The schema check and closing the connections."""

    async def check_schema(self) -> None:
        """Raise SchemaOutOfDate unless the schema is at the newest migration."""
        ...

    async def close(self) -> None: ...


class ImportStore(Protocol):
    """What a CSV import needs (campaignd.importing.pipeline): every Store, and the SQLAlchemy-free
    campaignd.store.sqlite_import used by `subscribers import` on a SQLite file."""

    async def get_list(self, name: str) -> MailingList:
        """Raise NotFound."""
        ...

    async def import_batch(
        self, rows: Sequence[NewSubscriber], options: ImportOptions
    ) -> ImportCounts:
        """Upsert one batch in one transaction. Rows are validated and unique by email.

        inserted: new subscribers; updated: existing ones whose info, status or subscriptions
        changed; skipped: existing ones left as they were. Idempotent.
        """
        ...


class SubscriberStore(ImportStore, PeopleStore, Protocol):
    """Lists, subscribers and their subscriptions, opt-in (get_list, import_batch: ImportStore)."""

    # -- lists ---------------------------------------------------------------------------
    async def create_list(
        self, name: str, optin: OptIn, description: str, *, public: bool = False
    ) -> MailingList:
        """A list with a new random uuid; `public` lists are offered by the subscription form
        and the preference page. Raise Conflict if the name exists, case-insensitively
        (rules.name_key)."""
        ...

    async def set_list_public(self, list_id: int, public: bool) -> MailingList:
        """Offer the list on the subscription form and the preference page, or stop; return
        the list. Raise NotFound."""
        ...

    async def update_list(
        self,
        list_id: int,
        *,
        name: str | None = None,
        optin: OptIn | None = None,
        description: str | None = None,
    ) -> MailingList:
        """Change what is given. Raise NotFound, or Conflict if `name` is another list's name
        case-insensitively (renaming "news" to "News" is allowed)."""
        ...

    async def delete_list(
        self, list_id: int, refuse_when: frozenset[CampaignStatus]
    ) -> MailingList:
        """Delete the list and its subscriptions; campaigns in other statuses lose the link.
        Raise NotFound, or Conflict naming the campaigns in a `refuse_when` status that use it
        (rules.in_use; then nothing changes)."""
        ...

    async def lists(self) -> list[MailingList]:
        """All lists with subscriber_count = subscriptions not unsubscribed."""
        ...

    async def list_names(self) -> dict[int, str]:
        """Every list's name by id (cheap: no counting)."""
        ...

    async def list_growth(self, list_id: int) -> list[SubscriptionDay]:
        """The list's subscriptions per UTC day, in day order, days without any left out:
        how many were created that day, and how many are now unsubscribed with their last
        change that day (the time of an unsubscribe; no history of earlier ones is kept).
        An unknown list has none."""
        ...

    # -- subscribers ---------------------------------------------------------------------
    async def add_subscriber(
        self,
        subscriber: NewSubscriber,
        list_ids: Sequence[int],
        status: SubscriptionStatus,
    ) -> Subscriber:
        """Raise Conflict if the address exists (case-insensitively)."""
        ...

    async def get_subscriber(self, email: str) -> Subscriber:
        """By address, case-insensitively, with subscriptions. Raise NotFound."""
        ...

    async def get_subscriber_by_uuid(self, subscriber_uuid: uuid.UUID) -> Subscriber:
        """With subscriptions. Raise NotFound."""
        ...

    async def get_subscriber_by_id(self, subscriber_id: int) -> Subscriber:
        """With subscriptions. Raise NotFound."""
        ...

    async def set_subscriber_status(self, email: str, status: SubscriberStatus) -> Subscriber:
        """Blocklisting also unsubscribes from every list. Raise NotFound."""
        ...

    async def unsubscribe(self, subscriber_id: int, list_ids: Sequence[int] | None) -> int:
        """Mark subscriptions unsubscribed (all lists when None); return how many changed."""
        ...

    # -- queries (the filter language: campaignd.filters) ---------------------------------
    async def query_subscribers(
        self, query: Node | None, after_id: int = 0, limit: int = 100
    ) -> list[Subscriber]:
        """Subscribers matching `query` (all when None) with id > after_id, in id order, at
        most `limit`, with their subscriptions (keyset pagination: pass the last id back)."""
        ...

    async def count_subscribers(self, query: Node | None) -> int:
        """How many subscribers match `query` (all when None)."""
        ...

    # -- opt-in --------------------------------------------------------------------------
    async def confirm_optin(
        self, subscriber_id: int, now: dt.datetime, list_ids: Sequence[int] | None = None
    ) -> int:
        """The subscriber's unconfirmed subscriptions on double opt-in lists (only those of
        `list_ids` when given) become confirmed (unsubscribed ones stay so); return how many
        changed."""
        ...

    async def optin_pending(
        self, list_ids: Sequence[int] | None = None, *, after_id: int = 0, limit: int = 500
    ) -> list[Subscriber]:
        """Enabled subscribers with an unconfirmed subscription on a double opt-in list (one of
        `list_ids` when given) and no confirmation message sent yet (mark_optin_sent), with
        id > after_id, in id order, at most `limit`."""
        ...

    async def mark_optin_sent(self, subscriber_id: int, now: dt.datetime) -> None:
        """Record that the subscriber was sent an opt-in confirmation message."""
        ...


class CampaignStore(Protocol):
    """Templates and campaign rows: create, read, compare-and-set transitions."""

    # -- templates -----------------------------------------------------------------------
    async def add_template(self, name: str, body: str) -> Template:
        """Raise Conflict if the name exists."""
        ...

    async def get_template(self, name: str) -> Template: ...

    async def get_template_by_id(self, template_id: int) -> Template: ...

    async def templates(self) -> list[Template]: ...

    async def update_template(self, template_id: int, body: str) -> Template:
        """Replace the body (updated_at = now). Raise NotFound."""
        ...

    async def delete_template(
        self, template_id: int, refuse_when: frozenset[CampaignStatus]
    ) -> Template:
        """Delete it. Raise NotFound, or Conflict naming the campaigns in a `refuse_when`
        status that use it (rules.in_use; then nothing changes)."""
        ...

    # -- campaigns -----------------------------------------------------------------------
    async def create_campaign(self, campaign: NewCampaign, template_id: int | None) -> Campaign:
        """Lists are named in campaign.lists; raise NotFound for an unknown one."""
        ...

    async def update_campaign(
        self,
        campaign_id: int,
        campaign: NewCampaign,
        template_id: int | None,
        allowed: frozenset[CampaignStatus],
    ) -> Campaign:
        """Replace the campaign's content, lists (named), template, messenger, headers, tags
        and send_at with `campaign`'s (status, counters and times other than updated_at are
        kept). Raise NotFound (campaign, list or template), or TransitionRefused if its status
        is not in `allowed` (rules.refused_change; then nothing changes)."""
        ...

    async def delete_campaign(
        self, campaign_id: int, allowed: frozenset[CampaignStatus]
    ) -> Campaign:
        """Delete the campaign, its ledger rows and list links; bounces it caused are kept,
        without the campaign id. Return what was deleted. Raise NotFound, or TransitionRefused
        if its status is not in `allowed` (then nothing changes)."""
        ...

    async def get_campaign(self, campaign_id: int) -> Campaign: ...

    async def get_campaign_by_uuid(self, campaign_uuid: uuid.UUID) -> Campaign:
        """Raise NotFound."""
        ...

    async def campaigns(self) -> list[Campaign]: ...

    async def set_campaign_archive(self, campaign_id: int, archive: bool) -> Campaign:
        """Show the campaign in the public archive or not. Raise NotFound."""
        ...

    async def transition(
        self,
        campaign_id: int,
        expected: frozenset[CampaignStatus],
        to: CampaignStatus,
        *,
        now: dt.datetime,
        send_at: dt.datetime | None = None,
        reason: str | None = None,
    ) -> Campaign:
        """Compare-and-set the status. Raise TransitionRefused if the current status is not in
        `expected`. Sets started_at on the first move to running (and resets send_errors on
        every move to running), finished_at on finished or cancelled, pause_reason on paused
        (cleared otherwise), send_at when given."""
        ...

    async def due_campaigns(self, now: dt.datetime) -> list[Campaign]:
        """Scheduled campaigns whose send_at <= now."""
        ...

    async def running_campaigns(self) -> list[Campaign]: ...


class LedgerStore(Protocol):
    """The delivery ledger (see the life cycle above) and what is asked of it."""

    # -- filling -------------------------------------------------------------------------
    async def populate_ledger(
        self, campaign_id: int, now: dt.datetime, *, after: int = 0, upto: int | None = None
    ) -> int:
        """Insert a pending row for every eligible subscriber not yet in the ledger; return the
        number inserted. Eligible: subscriber enabled; on one of the campaign's lists with a
        subscription that is confirmed (double opt-in) or not unsubscribed (single opt-in).
        A subscriber on several lists gets one row. Idempotent. Only subscribers with
        ``after < id <= upto`` (no upper bound when upto is None) are considered, so a large
        campaign can be populated in chunks and start sending after the first one."""
        ...

    async def eligible_count(self, campaign_id: int) -> int:
        """How many subscribers are eligible for the campaign now (as populate_ledger counts
        them, ledger rows aside). Raise NotFound."""
        ...

    async def last_subscriber_id(self) -> int:
        """The highest subscriber id there is (0 without subscribers): where chunks end."""
        ...

    async def missing_attributes(self, campaign_id: int, names: Sequence[str]) -> dict[str, int]:
        """Per name, how many of the campaign's recipients still to send (eligible now, without
        a sent, failed, unknown or skipped ledger row) lack that top-level attribute (a key
        holding null is present). Raise NotFound."""
        ...

    # -- claims and outcomes -------------------------------------------------------------
    async def claim_batch(
        self, campaign_id: int, owner: str, limit: int, now: dt.datetime
    ) -> list[Recipient]:
        """Claim up to `limit` rows that are pending or deferred and due, in id order. Rows
        whose subscriber is no longer eligible become skipped instead of being returned.
        Safe for several daemons on PostgreSQL (FOR UPDATE SKIP LOCKED)."""
        ...

    async def record_deliveries(self, records: Sequence[DeliveryRecord], now: dt.datetime) -> None:
        """Write outcomes in one transaction (attempts, code, text, server, message id)."""
        ...

    async def add_send_errors(self, campaign_id: int, count: int) -> int:
        """Add to the campaign's sender-side error counter; return the new total."""
        ...

    async def renew_claims(self, owner: str, campaign_id: int, now: dt.datetime) -> int:
        """This owner's claimed rows of the campaign get `claimed_at` = the claim clock's now,
        so a daemon starting meanwhile does not take them for a dead owner's (see
        `recover_claims`); return the count.

        The claim clock (claim_batch and renew_claims write it, the recover methods compare
        against it) is the database server's on PostgreSQL, so daemons whose clocks are
        skewed agree on a claim's age; on SQLite and in memory it is the caller's `now`."""
        ...

    async def release_claims(self, owner: str, campaign_id: int | None = None) -> int:
        """Claimed rows of this owner back to pending; return the count."""
        ...

    async def recover_claims(self, owner: str, lease: dt.timedelta, now: dt.datetime) -> int:
        """Claimed rows of `owner` (a restart of the same instance), or of any owner claimed
        or renewed more than `lease` ago by the claim clock (see `renew_claims`), back to
        pending; return the count."""
        ...

    async def recover_stale_claims(
        self, campaign_id: int, lease: dt.timedelta, alive: str, now: dt.datetime
    ) -> int:
        """Claimed rows of the campaign claimed or last renewed more than `lease` ago by the
        claim clock, of any owner but `alive` (the caller, whose runners renew their own),
        back to pending; return the count."""
        ...

    async def reset_failed(self, campaign_id: int) -> int:
        """Failed rows back to pending with attempts kept; return the count."""
        ...

    # -- counts --------------------------------------------------------------------------
    async def counts(self, campaign_id: int) -> CampaignCounts: ...

    async def failures(self, campaign_id: int) -> list[Failure]:
        """Rows that failed, are deferred or unknown, in address order."""
        ...

    async def next_retry_at(self, campaign_id: int) -> dt.datetime | None:
        """The earliest next_attempt_at among deferred rows."""
        ...


class BounceStore(Protocol):
    """Bounces and complaints reported by the SMTP servers and the providers."""

    async def add_bounce(
        self,
        subscriber_id: int,
        campaign_id: int | None,
        kind: str,
        source: str,
        reason: str,
        now: dt.datetime,
        event_id: str | None = None,
    ) -> int | None:
        """Record a bounce of `kind` ("hard", "soft" or "complaint") reported by `source`
        ("smtp", "ses", "sendgrid", "postmark"); return the subscriber's number of bounces of
        that kind, this one included. With the provider's `event_id`, an event already
        recorded from that source is not recorded again: None is returned."""
        ...

    async def bounce_counts(self, campaign_id: int) -> BounceCounts:
        """The campaign's recorded bounces by kind (zeros for a campaign without any)."""
        ...

    async def bounces(
        self,
        *,
        campaign_id: int | None = None,
        subscriber_id: int | None = None,
        limit: int = 100,
    ) -> list[Bounce]:
        """Recorded bounces, newest first (created_at, then id), of one campaign and/or one
        subscriber when given; at most `limit`."""
        ...


class Store(
    SchemaStore,
    CampaignStore,
    LedgerStore,
    SubscriberStore,
    BounceStore,
    ApiTokenStore,
    TrackingStore,
    Protocol,
):
    """Everything: what the composition root (daemon/, cli/) builds and hands out."""
