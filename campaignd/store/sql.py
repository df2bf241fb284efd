"""SqlStore: the Store protocol on SQLite or PostgreSQL through SQLAlchemy's async engine."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaignd.db import audience, links
from campaignd.db import campaigns as C
from campaignd.db import tables as T
from campaignd.db.bulk import Importer
from campaignd.db.engine import WRITE_OPTION, create_engine, describe, is_transient, sqlite_path
from campaignd.db.head import SCHEMA_HEAD, SCHEMA_MESSAGE
from campaignd.db.ledger import Ledger
from campaignd.db.revision import database_revision
from campaignd.db.sqlite.bulkrows import bulk_rows
from campaignd.db.sqlite.direct import SqliteDirect
from campaignd.db.sqlite.fastimport import SqliteBulk
from campaignd.db.sqlite.writer import BulkSession
from campaignd.domain import (
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
    Subscription,
    SubscriptionStatus,
    Template,
    utcnow,
)
from campaignd.errors import (
    CampaigndError,
    Conflict,
    NotFound,
    SchemaOutOfDate,
    StoreError,
)

log = logging.getLogger(__name__)

T_ = TypeVar("T_")

_RETRIES = 5
#: PostgreSQL statistics are refreshed after this many imported rows, then at each doubling.
ANALYZE_AFTER_ROWS = 5_000
_UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED.value


async def upgrade_schema(url: str) -> str:
    """Create or upgrade the schema of `url` to the newest migration; return that revision."""
    from campaignd.db.migrate import upgrade  # alembic is only needed here

    return await upgrade(url)


class SqlStore:
    """The Store on a SQL database; every method is one transaction."""

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self._engine = engine
        self._url = url
        self.dialect = engine.dialect.name
        self._ledger = Ledger(self.dialect)
        self._importer = Importer(self.dialect)
        self._imported = 0  # rows inserted by import_batch through this store
        self._analyze_at = ANALYZE_AFTER_ROWS
        self._ledger_added = 0
        self._ledger_analyze_at = ANALYZE_AFTER_ROWS
        path = sqlite_path(url) if self.dialect == "sqlite" else None
        # SQLite file: import_batch on its own sqlite3 connection (db.fastimport).
        self._bulk = SqliteBulk(path) if path is not None else None
        # SQLite file: the recorder's commits and the claims bypass SQLAlchemy (db.direct).
        self._direct = SqliteDirect(path) if path is not None else None

    @classmethod
    async def open(cls, url: str) -> SqlStore:
        """A store on `url` (sqlite:///path or postgresql://...); connects lazily."""
        return cls(create_engine(url), url)

    async def close(self) -> None:
        if self._direct is not None:
            await self._direct.close()
        if self._bulk is not None:
            await asyncio.to_thread(self._bulk.close)
        await self._engine.dispose()

    async def _tx(
        self, fn: Callable[[AsyncConnection], Awaitable[T_]], *, write: bool = True
    ) -> T_:
        """Run `fn` in one transaction; retry it on known-transient errors before the commit."""
        for attempt in range(1, _RETRIES + 1):
            committing = False
            try:
                async with self._engine.connect() as conn:
                    if write:
                        conn = await conn.execution_options(**{WRITE_OPTION: True})
                    async with conn.begin():
                        result = await fn(conn)
                        committing = True
                return result
            except CampaigndError:
                raise
            except IntegrityError as exc:
                raise Conflict(f"conflicts with existing data: {exc.orig}") from exc
            except (SQLAlchemyError, OSError) as exc:
                if committing or attempt == _RETRIES or not is_transient(exc):
                    raise StoreError(f"database error on {describe(self._url)}: {exc}") from exc
                log.warning(
                    "transient database error, retrying (%d/%d): %s",
                    attempt,
                    _RETRIES,
                    exc,
                    extra={"action": "db.retry"},
                )
                await asyncio.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    # -- schema --------------------------------------------------------------------------
    async def check_schema(self) -> None:
        path = sqlite_path(self._url)
        if path is not None and not path.exists():
            raise SchemaOutOfDate(SCHEMA_MESSAGE)

        if await self._tx(database_revision, write=False) != SCHEMA_HEAD:
            raise SchemaOutOfDate(SCHEMA_MESSAGE)

    # -- lists ---------------------------------------------------------------------------
    async def create_list(self, name: str, optin: OptIn, description: str) -> MailingList:
        now = utcnow()

        async def fn(conn: AsyncConnection) -> MailingList:
            if await conn.scalar(select(T.lists.c.id).where(T.lists.c.name == name)):
                raise Conflict(f"list {name!r} already exists")
            stmt = insert(T.lists).values(
                name=name,
                optin=optin.value,
                description=description,
                created_at=now,
                updated_at=now,
            )
            list_id = (await conn.execute(stmt.returning(T.lists.c.id))).scalar_one()
            return MailingList(list_id, name, OptIn(optin), description, now, 0)

        return await self._tx(fn)

    def _lists_query(self) -> Any:
        li, sl = T.lists.c, T.subscriptions.c
        count = (
            select(func.count())
            .where(sl.list_id == li.id, sl.status != _UNSUBSCRIBED)
            .scalar_subquery()
        )
        return select(li.id, li.name, li.optin, li.description, li.created_at, count).order_by(
            li.id
        )

    async def get_list(self, name: str) -> MailingList:
        async def fn(conn: AsyncConnection) -> MailingList:
            row = (await conn.execute(self._lists_query().where(T.lists.c.name == name))).first()
            if row is None:
                raise NotFound(f"no list named {name!r}")
            return _list(row)

        return await self._tx(fn, write=False)

    async def lists(self) -> list[MailingList]:
        async def fn(conn: AsyncConnection) -> list[MailingList]:
            return [_list(r) for r in await conn.execute(self._lists_query())]

        return await self._tx(fn, write=False)

    async def list_names(self) -> dict[int, str]:
        async def fn(conn: AsyncConnection) -> dict[int, str]:
            rows = await conn.execute(select(T.lists.c.id, T.lists.c.name))
            return {r[0]: r[1] for r in rows}

        return await self._tx(fn, write=False)

    # -- subscribers ---------------------------------------------------------------------
    async def _subscriber(self, conn: AsyncConnection, where: Any) -> Subscriber | None:
        sl, li = T.subscriptions.c, T.lists.c
        row = (await conn.execute(select(T.subscribers).where(where))).first()
        if row is None:
            return None
        subs = await conn.execute(
            select(sl.list_id, li.name, sl.status)
            .join_from(T.subscriptions, T.lists, li.id == sl.list_id)
            .where(sl.subscriber_id == row.id)
            .order_by(sl.list_id)
        )
        return Subscriber(
            id=row.id,
            uuid=row.uuid,
            email=row.email,
            name=row.name,
            attributes=row.attributes,
            status=SubscriberStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            subscriptions=tuple(
                Subscription(r.list_id, r.name, SubscriptionStatus(r.status)) for r in subs
            ),
        )

    async def add_subscriber(
        self, subscriber: NewSubscriber, list_ids: Sequence[int], status: SubscriptionStatus
    ) -> Subscriber:
        now = utcnow()
        key = subscriber.email.lower()
        s = T.subscribers.c

        async def fn(conn: AsyncConnection) -> Subscriber:
            if await conn.scalar(select(s.id).where(s.email_key == key)):
                raise Conflict(f"subscriber {subscriber.email} already exists")
            await _require_lists(conn, list_ids)
            stmt = insert(T.subscribers).values(
                uuid=uuid.uuid4(),
                email=subscriber.email,
                email_key=key,
                name=subscriber.name,
                attributes=dict(subscriber.attributes),
                status=SubscriberStatus.ENABLED.value,
                created_at=now,
                updated_at=now,
            )
            sid = (await conn.execute(stmt.returning(s.id))).scalar_one()
            if list_ids:
                await conn.execute(
                    insert(T.subscriptions),
                    [
                        {
                            "subscriber_id": sid,
                            "list_id": lid,
                            "status": status.value,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for lid in dict.fromkeys(list_ids)
                    ],
                )
            found = await self._subscriber(conn, s.id == sid)
            assert found is not None
            return found

        return await self._tx(fn)

    async def get_subscriber(self, email: str) -> Subscriber:
        async def fn(conn: AsyncConnection) -> Subscriber:
            found = await self._subscriber(conn, T.subscribers.c.email_key == _key(email))
            if found is None:
                raise NotFound(f"no subscriber {email.strip()}")
            return found

        return await self._tx(fn, write=False)

    async def set_subscriber_status(self, email: str, status: SubscriberStatus) -> Subscriber:
        now = utcnow()
        s, sl = T.subscribers.c, T.subscriptions.c

        async def fn(conn: AsyncConnection) -> Subscriber:
            sid = await conn.scalar(select(s.id).where(s.email_key == _key(email)))
            if sid is None:
                raise NotFound(f"no subscriber {email.strip()}")
            await conn.execute(
                update(T.subscribers).where(s.id == sid).values(status=status.value, updated_at=now)
            )
            if status is SubscriberStatus.BLOCKLISTED:
                await conn.execute(
                    update(T.subscriptions)
                    .where(sl.subscriber_id == sid, sl.status != _UNSUBSCRIBED)
                    .values(status=_UNSUBSCRIBED, updated_at=now)
                )
            found = await self._subscriber(conn, s.id == sid)
            assert found is not None
            return found

        return await self._tx(fn)

    async def unsubscribe(self, subscriber_id: int, list_ids: Sequence[int] | None) -> int:
        now = utcnow()
        sl = T.subscriptions.c

        async def fn(conn: AsyncConnection) -> int:
            stmt = update(T.subscriptions).where(
                sl.subscriber_id == subscriber_id, sl.status != _UNSUBSCRIBED
            )
            if list_ids is not None:
                stmt = stmt.where(sl.list_id.in_(list(list_ids)))
            result = await conn.execute(stmt.values(status=_UNSUBSCRIBED, updated_at=now))
            return result.rowcount

        return await self._tx(fn)

    async def import_batch(
        self, rows: Sequence[NewSubscriber], options: ImportOptions
    ) -> ImportCounts:
        if not rows:
            return ImportCounts()
        now = utcnow()
        if self._bulk is not None:
            bulk = bulk_rows(rows)
            counts, _dups = await asyncio.to_thread(self._bulk.import_rows, bulk, options, now)
            return counts

        async def fn(conn: AsyncConnection) -> ImportCounts:
            await _require_lists(conn, options.list_ids)
            return await self._importer.run(conn, rows, options, now)

        counts = await self._tx(fn)
        self._imported += counts.inserted
        if self._imported >= self._analyze_at:
            self._analyze_at = 2 * self._imported
            await self._analyze("subscribers", "subscriptions")
        return counts

    def bulk_session(self) -> BulkSession | None:
        """A writer process for one CSV import on a SQLite file (None otherwise); blocking."""
        path = sqlite_path(self._url) if self.dialect == "sqlite" else None
        return BulkSession(path) if path is not None else None

    async def _analyze(self, *names: str) -> None:
        """Refresh PostgreSQL's planner statistics after a bulk change.

        Until autovacuum catches up, the planner believes a freshly imported table is still
        small and picks plans (sequential and bitmap scans) that make each batch slower than
        the last. SQLite keeps no statistics unless asked, so it needs none of this.
        """
        if self.dialect != "postgresql":
            return

        async def fn(conn: AsyncConnection) -> None:
            await conn.exec_driver_sql(f"ANALYZE {', '.join(names)}")

        await self._tx(fn)

    # -- templates -----------------------------------------------------------------------
    async def add_template(self, name: str, body: str) -> Template:
        now = utcnow()
        t = T.templates.c

        async def fn(conn: AsyncConnection) -> Template:
            if await conn.scalar(select(t.id).where(t.name == name)):
                raise Conflict(f"template {name!r} already exists")
            stmt = insert(T.templates).values(name=name, body=body, created_at=now, updated_at=now)
            tid = (await conn.execute(stmt.returning(t.id))).scalar_one()
            return Template(tid, name, body, now)

        return await self._tx(fn)

    async def _template(self, where: Any, what: str) -> Template:
        t = T.templates.c

        async def fn(conn: AsyncConnection) -> Template:
            query = select(t.id, t.name, t.body, t.created_at).where(where)
            row = (await conn.execute(query)).first()
            if row is None:
                raise NotFound(f"no template {what}")
            return Template(row.id, row.name, row.body, row.created_at)

        return await self._tx(fn, write=False)

    async def get_template(self, name: str) -> Template:
        return await self._template(T.templates.c.name == name, f"named {name!r}")

    async def get_template_by_id(self, template_id: int) -> Template:
        return await self._template(T.templates.c.id == template_id, f"with id {template_id}")

    async def templates(self) -> list[Template]:
        t = T.templates.c

        async def fn(conn: AsyncConnection) -> list[Template]:
            rows = await conn.execute(select(t.id, t.name, t.body, t.created_at).order_by(t.id))
            return [Template(r.id, r.name, r.body, r.created_at) for r in rows]

        return await self._tx(fn, write=False)

    # -- campaigns -----------------------------------------------------------------------
    async def create_campaign(self, campaign: NewCampaign, template_id: int | None) -> Campaign:
        now = utcnow()

        async def fn(conn: AsyncConnection) -> Campaign:
            return await C.create(conn, campaign, template_id, now)

        return await self._tx(fn)

    async def get_campaign(self, campaign_id: int) -> Campaign:
        async def fn(conn: AsyncConnection) -> Campaign:
            return await C.get(conn, campaign_id)

        return await self._tx(fn, write=False)

    async def _campaigns(self, where: Any = None) -> list[Campaign]:
        async def fn(conn: AsyncConnection) -> list[Campaign]:
            return await C.select_campaigns(conn, where)

        return await self._tx(fn, write=False)

    async def campaigns(self) -> list[Campaign]:
        return await self._campaigns()

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
        async def fn(conn: AsyncConnection) -> Campaign:
            return await C.transition(conn, campaign_id, expected, to, now, send_at, reason)

        return await self._tx(fn)

    async def due_campaigns(self, now: dt.datetime) -> list[Campaign]:
        c = T.campaigns.c
        return await self._campaigns(
            (c.status == CampaignStatus.SCHEDULED.value) & (c.send_at <= now)
        )

    async def running_campaigns(self) -> list[Campaign]:
        return await self._campaigns(T.campaigns.c.status == CampaignStatus.RUNNING.value)

    async def add_send_errors(self, campaign_id: int, count: int) -> int:
        async def fn(conn: AsyncConnection) -> int:
            return await C.add_send_errors(conn, campaign_id, count)

        return await self._tx(fn)

    # -- ledger --------------------------------------------------------------------------
    async def populate_ledger(
        self, campaign_id: int, now: dt.datetime, *, after: int = 0, upto: int | None = None
    ) -> int:
        async def fn(conn: AsyncConnection) -> int:
            if (
                await conn.scalar(select(T.campaigns.c.id).where(T.campaigns.c.id == campaign_id))
                is None
            ):
                raise NotFound(f"no campaign {campaign_id}")
            return await self._ledger.populate(conn, campaign_id, now, after, upto)

        count = await self._tx(fn)
        # Chunks of one campaign add up: refresh statistics each time the ledger doubles.
        self._ledger_added += count
        if self._ledger_added >= self._ledger_analyze_at:
            self._ledger_analyze_at = 2 * self._ledger_added
            await self._analyze("deliveries")
        log.debug(
            "ledger of campaign %d: %d recipients added",
            campaign_id,
            count,
            extra={"action": "ledger.populate"},
        )
        return count

    async def last_subscriber_id(self) -> int:
        return await self._tx(self._ledger.last_subscriber_id, write=False)

    async def claim_batch(
        self, campaign_id: int, owner: str, limit: int, now: dt.datetime
    ) -> list[Recipient]:
        if self._direct is not None:  # SQLite file: one thread hop, no SQLAlchemy per row
            return await self._direct.transaction(
                partial(
                    self._ledger.claim_sqlite,
                    campaign_id=campaign_id,
                    owner=owner,
                    limit=limit,
                    now=now,
                )
            )

        async def fn(conn: AsyncConnection) -> list[Recipient]:
            return await self._ledger.claim(conn, campaign_id, owner, limit, now)

        return await self._tx(fn)

    async def record_deliveries(self, records: Sequence[DeliveryRecord], now: dt.datetime) -> None:
        if self._direct is not None:  # SQLite file: one thread hop instead of ~8
            if records:
                await self._direct.transaction(
                    partial(self._ledger.record_sqlite, records=records, now=now)
                )
            return

        async def fn(conn: AsyncConnection) -> None:
            await self._ledger.record(conn, records, now)

        await self._tx(fn)

    async def renew_claims(self, owner: str, campaign_id: int, now: dt.datetime) -> int:
        async def fn(conn: AsyncConnection) -> int:
            return await self._ledger.renew(conn, owner, campaign_id, now)

        return await self._tx(fn)

    async def release_claims(self, owner: str, campaign_id: int | None = None) -> int:
        now = utcnow()

        async def fn(conn: AsyncConnection) -> int:
            return await self._ledger.release(conn, owner, campaign_id, now)

        return await self._tx(fn)

    async def recover_claims(self, owner: str, stale_before: dt.datetime) -> int:
        now = utcnow()

        async def fn(conn: AsyncConnection) -> int:
            return await self._ledger.recover(conn, owner, stale_before, now)

        return await self._tx(fn)

    async def recover_stale_claims(
        self, campaign_id: int, stale_before: dt.datetime, alive: str
    ) -> int:
        now = utcnow()

        async def fn(conn: AsyncConnection) -> int:
            return await self._ledger.recover_stale(conn, campaign_id, stale_before, alive, now)

        return await self._tx(fn)

    async def reset_failed(self, campaign_id: int) -> int:
        now = utcnow()

        async def fn(conn: AsyncConnection) -> int:
            return await self._ledger.reset_failed(conn, campaign_id, now)

        return await self._tx(fn)

    async def counts(self, campaign_id: int) -> CampaignCounts:
        async def fn(conn: AsyncConnection) -> CampaignCounts:
            return await self._ledger.counts(conn, campaign_id)

        return await self._tx(fn, write=False)

    async def failures(self, campaign_id: int) -> list[Failure]:
        async def fn(conn: AsyncConnection) -> list[Failure]:
            return await self._ledger.failures(conn, campaign_id)

        return await self._tx(fn, write=False)

    async def next_retry_at(self, campaign_id: int) -> dt.datetime | None:
        async def fn(conn: AsyncConnection) -> dt.datetime | None:
            return await self._ledger.next_retry_at(conn, campaign_id)

        return await self._tx(fn, write=False)

    async def missing_attributes(self, campaign_id: int, names: Sequence[str]) -> dict[str, int]:
        async def fn(conn: AsyncConnection) -> dict[str, int]:
            await C.get(conn, campaign_id)  # NotFound names the campaign
            return await audience.missing_attributes(conn, self.dialect, campaign_id, names)

        return await self._tx(fn, write=False)

    # -- subscribers' own actions --------------------------------------------------------
    async def get_subscriber_by_uuid(self, subscriber_uuid: uuid.UUID) -> Subscriber:
        async def fn(conn: AsyncConnection) -> Subscriber:
            found = await self._subscriber(conn, T.subscribers.c.uuid == subscriber_uuid)
            if found is None:
                raise NotFound("no such subscriber")
            return found

        return await self._tx(fn, write=False)

    async def get_campaign_by_uuid(self, campaign_uuid: uuid.UUID) -> Campaign:
        c = T.campaigns.c

        async def fn(conn: AsyncConnection) -> Campaign:
            cid = await conn.scalar(select(c.id).where(c.uuid == campaign_uuid))
            if cid is None:
                raise NotFound("no such campaign")
            return await C.get(conn, cid)

        return await self._tx(fn, write=False)

    async def confirm_optin(
        self, subscriber_id: int, now: dt.datetime, list_ids: Sequence[int] | None = None
    ) -> int:
        async def fn(conn: AsyncConnection) -> int:
            return await links.confirm_optin(conn, subscriber_id, now, list_ids)

        return await self._tx(fn)

    async def optin_pending(
        self, list_ids: Sequence[int] | None = None, *, after_id: int = 0, limit: int = 500
    ) -> list[Subscriber]:
        async def fn(conn: AsyncConnection) -> list[Subscriber]:
            out = []
            for sid in await links.optin_pending_ids(conn, list_ids, after_id, limit):
                found = await self._subscriber(conn, T.subscribers.c.id == sid)
                if found is not None:
                    out.append(found)
            return out

        return await self._tx(fn, write=False)

    async def mark_optin_sent(self, subscriber_id: int, now: dt.datetime) -> None:
        async def fn(conn: AsyncConnection) -> None:
            await links.mark_optin_sent(conn, subscriber_id, now)

        await self._tx(fn)

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
        async def fn(conn: AsyncConnection) -> int | None:
            if (
                await conn.scalar(
                    select(T.subscribers.c.id).where(T.subscribers.c.id == subscriber_id)
                )
                is None
            ):
                raise NotFound(f"no subscriber with id {subscriber_id}")
            return await links.add_bounce(
                conn, subscriber_id, campaign_id, kind, source, reason, now, event_id
            )

        try:
            return await self._tx(fn)
        except Conflict:
            if event_id is None:
                raise
            return None  # the same event, recorded by a concurrent delivery of the webhook


def _key(email: str) -> str:
    return email.strip().lower()


def _list(row: Any) -> MailingList:
    return MailingList(
        id=row[0],
        name=row[1],
        optin=OptIn(row[2]),
        description=row[3],
        created_at=row[4],
        subscriber_count=int(row[5]),
    )


async def _require_lists(conn: AsyncConnection, list_ids: Sequence[int]) -> None:
    wanted = set(list_ids)
    if not wanted:
        return
    found = set((await conn.scalars(select(T.lists.c.id).where(T.lists.c.id.in_(wanted)))).all())
    missing = sorted(wanted - found)
    if missing:
        raise NotFound(f"no list with id {', '.join(map(str, missing))}")
