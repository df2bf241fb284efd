"""Campaign rows: create, read, update/delete guarded by status, transitions, send errors, users."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db import tables as T
from campaignd.domain import Campaign, CampaignStatus, ContentType, NewCampaign
from campaignd.errors import NotFound
from campaignd.rules import refusal, refused_change, transition_values


async def _list_ids(conn: AsyncConnection, new: NewCampaign, template_id: int | None) -> list[int]:
    """The ids of the named lists, in the order named; NotFound for an unknown list or
    template."""
    li = T.lists.c
    names = list(dict.fromkeys(new.lists))
    found = {
        r.name: r.id for r in await conn.execute(select(li.id, li.name).where(li.name.in_(names)))
    }
    missing = [n for n in names if n not in found]
    if missing:
        raise NotFound(f"no list named {', '.join(repr(n) for n in missing)}")
    if template_id is not None and (
        await conn.scalar(select(T.templates.c.id).where(T.templates.c.id == template_id)) is None
    ):
        raise NotFound(f"no template with id {template_id}")
    return [found[n] for n in names]


def _content(new: NewCampaign, template_id: int | None) -> dict[str, Any]:
    """The columns `create` and `update` set from a NewCampaign."""
    return {
        "name": new.name,
        "subject": new.subject,
        "from_email": new.from_email,
        "body": new.body,
        "alt_body": new.alt_body,
        "content_type": ContentType(new.content_type).value,
        "template_id": template_id,
        "messenger": new.messenger,
        "headers": [[name, value] for name, value in new.headers],
        "tags": list(new.tags),
        "send_at": new.send_at,
        "segment": new.segment,
    }


async def _link_lists(conn: AsyncConnection, campaign_id: int, list_ids: list[int]) -> None:
    if list_ids:
        await conn.execute(
            insert(T.campaign_lists),
            [{"campaign_id": campaign_id, "list_id": lid} for lid in list_ids],
        )


async def create(
    conn: AsyncConnection, new: NewCampaign, template_id: int | None, now: dt.datetime
) -> Campaign:
    list_ids = await _list_ids(conn, new, template_id)
    stmt = insert(T.campaigns).values(
        uuid=uuid.uuid4(),
        **_content(new, template_id),
        status=CampaignStatus.DRAFT.value,
        send_errors=0,
        archive=new.archive,
        track=list(new.track),
        created_at=now,
        updated_at=now,
    )
    campaign_id = (await conn.execute(stmt.returning(T.campaigns.c.id))).scalar_one()
    await _link_lists(conn, campaign_id, list_ids)
    return await get(conn, campaign_id)


async def _current(
    conn: AsyncConnection, campaign_id: int, doing: str, allowed: frozenset[CampaignStatus]
) -> Campaign:
    """The campaign, its row locked on PostgreSQL; TransitionRefused unless its status is in
    `allowed`."""
    c = T.campaigns.c
    locked = select(c.status).where(c.id == campaign_id)
    if conn.dialect.name == "postgresql":
        locked = locked.with_for_update()
    status = await conn.scalar(locked)
    if status is None:
        raise NotFound(f"no campaign {campaign_id}")
    if CampaignStatus(status) not in allowed:
        raise refused_change(campaign_id, CampaignStatus(status), doing, allowed)
    return await get(conn, campaign_id)


async def update_campaign(
    conn: AsyncConnection,
    campaign_id: int,
    new: NewCampaign,
    template_id: int | None,
    allowed: frozenset[CampaignStatus],
    now: dt.datetime,
) -> Campaign:
    await _current(conn, campaign_id, "update", allowed)
    list_ids = await _list_ids(conn, new, template_id)
    c, cl = T.campaigns.c, T.campaign_lists.c
    await conn.execute(
        update(T.campaigns)
        .where(c.id == campaign_id)
        .values(**_content(new, template_id), updated_at=now)
    )
    await conn.execute(delete(T.campaign_lists).where(cl.campaign_id == campaign_id))
    await _link_lists(conn, campaign_id, list_ids)
    return await get(conn, campaign_id)


async def delete_campaign(
    conn: AsyncConnection, campaign_id: int, allowed: frozenset[CampaignStatus]
) -> Campaign:
    current = await _current(conn, campaign_id, "delete", allowed)
    await conn.execute(delete(T.deliveries).where(T.deliveries.c.campaign_id == campaign_id))
    b = T.bounces.c
    await conn.execute(
        update(T.bounces).where(b.campaign_id == campaign_id).values(campaign_id=None)
    )
    await conn.execute(
        delete(T.campaign_lists).where(T.campaign_lists.c.campaign_id == campaign_id)
    )
    await conn.execute(delete(T.campaigns).where(T.campaigns.c.id == campaign_id))
    return current


async def users(
    conn: AsyncConnection, where: Any, refuse_when: frozenset[CampaignStatus]
) -> list[tuple[int, str, CampaignStatus]]:
    """(id, name, status) of the campaigns matching `where` in a `refuse_when` status."""
    c = T.campaigns.c
    rows = await conn.execute(
        select(c.id, c.name, c.status)
        .where(where, c.status.in_([s.value for s in refuse_when]))
        .order_by(c.id)
    )
    return [(r.id, r.name, CampaignStatus(r.status)) for r in rows]


async def get(conn: AsyncConnection, campaign_id: int) -> Campaign:
    found = await select_campaigns(conn, T.campaigns.c.id == campaign_id)
    if not found:
        raise NotFound(f"no campaign {campaign_id}")
    return found[0]


async def select_campaigns(conn: AsyncConnection, where: Any = None) -> list[Campaign]:
    c, cl = T.campaigns.c, T.campaign_lists.c
    query = select(T.campaigns).order_by(c.id)
    if where is not None:
        query = query.where(where)
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    lists: dict[int, list[int]] = {}
    links = await conn.execute(
        select(cl.campaign_id, cl.list_id)
        .where(cl.campaign_id.in_([r.id for r in rows]))
        .order_by(cl.campaign_id, cl.list_id)
    )
    for campaign_id, list_id in links:
        lists.setdefault(campaign_id, []).append(list_id)
    return [_campaign(r, tuple(lists.get(r.id, ()))) for r in rows]


def _campaign(row: Row[Any], list_ids: tuple[int, ...]) -> Campaign:
    return Campaign(
        id=row.id,
        uuid=row.uuid,
        name=row.name,
        subject=row.subject,
        from_email=row.from_email,
        body=row.body,
        alt_body=row.alt_body,
        content_type=ContentType(row.content_type),
        template_id=row.template_id,
        messenger=row.messenger,
        headers=tuple((str(h[0]), str(h[1])) for h in row.headers),
        tags=tuple(str(t) for t in row.tags),
        status=CampaignStatus(row.status),
        send_at=row.send_at,
        list_ids=list_ids,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        pause_reason=row.pause_reason,
        send_errors=row.send_errors,
        segment=row.segment,
        archive=bool(row.archive),
        track=tuple(str(t) for t in row.track),
    )


async def transition(
    conn: AsyncConnection,
    campaign_id: int,
    expected: frozenset[CampaignStatus],
    to: CampaignStatus,
    now: dt.datetime,
    send_at: dt.datetime | None,
    reason: str | None,
) -> Campaign:
    c = T.campaigns.c
    current = await get(conn, campaign_id)
    if current.status not in expected:
        raise refusal(campaign_id, current.status, to, expected)
    values = transition_values(current, to, now, send_at, reason)
    values["status"] = to.value
    result = await conn.execute(
        update(T.campaigns)
        .where(c.id == campaign_id, c.status == current.status.value)
        .values(**values)
    )
    if result.rowcount != 1:  # changed by someone else since we read it
        latest = await get(conn, campaign_id)
        raise refusal(campaign_id, latest.status, to, expected)
    return await get(conn, campaign_id)


async def add_send_errors(conn: AsyncConnection, campaign_id: int, count: int) -> int:
    c = T.campaigns.c
    result = await conn.execute(
        update(T.campaigns)
        .where(c.id == campaign_id)
        .values(send_errors=c.send_errors + count)
        .returning(c.send_errors)
    )
    total = result.scalar_one_or_none()
    if total is None:
        raise NotFound(f"no campaign {campaign_id}")
    return int(total)
