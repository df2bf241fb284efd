"""SQL for what subscribers do through their links and providers: opt-in, bounces, look-ups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tables as T
from campaignd.domain import OptIn, SubscriberStatus, SubscriptionStatus

_UNCONFIRMED = SubscriptionStatus.UNCONFIRMED.value
_DOUBLE = OptIn.DOUBLE.value


def _double_lists() -> Any:
    return select(T.lists.c.id).where(T.lists.c.optin == _DOUBLE)


async def confirm_optin(
    conn: AsyncConnection,
    subscriber_id: int,
    now: dt.datetime,
    list_ids: Sequence[int] | None = None,
) -> int:
    """Unconfirmed subscriptions of `subscriber_id` on double opt-in lists (of `list_ids` when
    given) -> confirmed."""
    sl = T.subscriptions.c
    scope = [sl.list_id.in_(list(list_ids))] if list_ids is not None else []
    result = await conn.execute(
        update(T.subscriptions)
        .where(
            sl.subscriber_id == subscriber_id,
            sl.status == _UNCONFIRMED,
            sl.list_id.in_(_double_lists()),
            *scope,
        )
        .values(status=SubscriptionStatus.CONFIRMED.value, updated_at=now)
    )
    return int(result.rowcount)


async def optin_pending_ids(
    conn: AsyncConnection, list_ids: Sequence[int] | None, after_id: int, limit: int
) -> list[int]:
    """Ids of enabled subscribers awaiting a confirmation message, in id order after `after_id`."""
    s, sl, o = T.subscribers.c, T.subscriptions.c, T.optin_sends.c
    on_list = and_(
        sl.subscriber_id == s.id,
        sl.status == _UNCONFIRMED,
        sl.list_id.in_(_double_lists()),
    )
    if list_ids is not None:
        on_list = and_(on_list, sl.list_id.in_(list(list_ids)))
    query = (
        select(s.id)
        .where(
            s.id > after_id,
            s.status == SubscriberStatus.ENABLED.value,
            exists().where(on_list),
            ~exists().where(o.subscriber_id == s.id),
        )
        .order_by(s.id)
        .limit(limit)
    )
    return list((await conn.scalars(query)).all())


async def mark_optin_sent(conn: AsyncConnection, subscriber_id: int, now: dt.datetime) -> None:
    o = T.optin_sends.c
    found = await conn.scalar(select(o.subscriber_id).where(o.subscriber_id == subscriber_id))
    if found is None:
        await conn.execute(insert(T.optin_sends).values(subscriber_id=subscriber_id, sent_at=now))
    else:
        await conn.execute(
            update(T.optin_sends).where(o.subscriber_id == subscriber_id).values(sent_at=now)
        )


async def add_bounce(
    conn: AsyncConnection,
    subscriber_id: int,
    campaign_id: int | None,
    kind: str,
    source: str,
    reason: str,
    now: dt.datetime,
    event_id: str | None = None,
) -> int | None:
    """Insert one bounce; the subscriber's count of bounces of that kind, this one included.
    None when the source's event `event_id` is already recorded (nothing inserted)."""
    b = T.bounces.c
    if event_id is not None and await conn.scalar(
        select(b.id).where(b.source == source, b.event_id == event_id)
    ):
        return None
    await conn.execute(
        insert(T.bounces).values(
            subscriber_id=subscriber_id,
            campaign_id=campaign_id,
            type=kind,
            source=source,
            reason=reason[:2000],
            event_id=event_id,
            created_at=now,
        )
    )
    count = await conn.scalar(
        select(func.count()).where(b.subscriber_id == subscriber_id, b.type == kind)
    )
    return int(count or 0)
