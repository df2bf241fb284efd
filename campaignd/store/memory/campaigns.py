"""The in-memory CampaignStore: templates, campaign rows, compare-and-set transitions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from campaignd.domain import (
    Campaign,
    CampaignStatus,
    ContentType,
    NewCampaign,
    Template,
    utcnow,
)
from campaignd.errors import Conflict, NotFound
from campaignd.rules import in_use, is_due, refusal, refused_change, transition_values
from campaignd.store.memory.state import MemoryState, utc


class MemoryCampaigns(MemoryState):
    """Templates and campaigns."""

    # -- templates ---------------------------------------------------------------------------
    async def add_template(self, name: str, body: str) -> Template:
        if any(t.name == name for t in self._templates.values()):
            raise Conflict(f"template {name!r} already exists", field="name")
        now = utcnow()
        new = Template(self._next("template"), name, body, now, now)
        self._templates[new.id] = new
        return new

    async def get_template(self, name: str) -> Template:
        for t in self._templates.values():
            if t.name == name:
                return t
        raise NotFound(f"no template named {name!r}")

    async def get_template_by_id(self, template_id: int) -> Template:
        try:
            return self._templates[template_id]
        except KeyError:
            raise NotFound(f"no template with id {template_id}") from None

    async def templates(self) -> list[Template]:
        return [self._templates[k] for k in sorted(self._templates)]

    async def update_template(self, template_id: int, body: str) -> Template:
        current = await self.get_template_by_id(template_id)
        updated = dataclasses.replace(current, body=body, updated_at=utcnow())
        self._templates[template_id] = updated
        return updated

    async def delete_template(
        self, template_id: int, refuse_when: frozenset[CampaignStatus]
    ) -> Template:
        current = await self.get_template_by_id(template_id)
        users = [
            (c.id, c.name, c.status)
            for c in await self.campaigns()
            if c.template_id == template_id and c.status in refuse_when
        ]
        if users:
            raise in_use(f"template {current.name!r}", users)
        for c in await self.campaigns():
            if c.template_id == template_id:  # as ON DELETE SET NULL
                self._campaigns[c.id] = dataclasses.replace(c, template_id=None)
        del self._templates[template_id]
        return current

    # -- campaigns ---------------------------------------------------------------------------
    def _list_ids(self, campaign: NewCampaign, template_id: int | None) -> tuple[int, ...]:
        """The ids of the named lists; NotFound for an unknown list or template."""
        by_name = {m.name: m.id for m in self._lists.values()}
        names = list(dict.fromkeys(campaign.lists))
        missing = [n for n in names if n not in by_name]
        if missing:
            raise NotFound(f"no list named {', '.join(repr(n) for n in missing)}")
        if template_id is not None and template_id not in self._templates:
            raise NotFound(f"no template with id {template_id}")
        return tuple(sorted(by_name[n] for n in names))

    async def create_campaign(self, campaign: NewCampaign, template_id: int | None) -> Campaign:
        list_ids = self._list_ids(campaign, template_id)
        now = utcnow()
        new = Campaign(
            id=self._next("campaign"),
            uuid=uuid.uuid4(),
            name=campaign.name,
            subject=campaign.subject,
            from_email=campaign.from_email,
            body=campaign.body,
            alt_body=campaign.alt_body,
            content_type=ContentType(campaign.content_type),
            template_id=template_id,
            messenger=campaign.messenger,
            headers=tuple((str(n), str(v)) for n, v in campaign.headers),
            tags=tuple(campaign.tags),
            track=tuple(campaign.track),
            status=CampaignStatus.DRAFT,
            send_at=utc(campaign.send_at),
            segment=campaign.segment,
            list_ids=list_ids,
            created_at=now,
            updated_at=now,
            archive=campaign.archive,
        )
        self._campaigns[new.id] = new
        return new

    async def update_campaign(
        self,
        campaign_id: int,
        campaign: NewCampaign,
        template_id: int | None,
        allowed: frozenset[CampaignStatus],
    ) -> Campaign:
        current = self._campaign(campaign_id)
        if current.status not in allowed:
            raise refused_change(campaign_id, current.status, "update", allowed)
        updated = dataclasses.replace(
            current,
            list_ids=self._list_ids(campaign, template_id),
            name=campaign.name,
            subject=campaign.subject,
            from_email=campaign.from_email,
            body=campaign.body,
            alt_body=campaign.alt_body,
            content_type=ContentType(campaign.content_type),
            template_id=template_id,
            messenger=campaign.messenger,
            headers=tuple((str(n), str(v)) for n, v in campaign.headers),
            tags=tuple(campaign.tags),
            send_at=utc(campaign.send_at),
            segment=campaign.segment,
            updated_at=utcnow(),
        )
        self._campaigns[campaign_id] = updated
        return updated

    async def delete_campaign(
        self, campaign_id: int, allowed: frozenset[CampaignStatus]
    ) -> Campaign:
        current = self._campaign(campaign_id)
        if current.status not in allowed:
            raise refused_change(campaign_id, current.status, "delete", allowed)
        for row_id in [k for k, r in self._ledger.items() if r.campaign_id == campaign_id]:
            row = self._ledger.pop(row_id)
            self._in_ledger.discard((campaign_id, row.subscriber_id))
        self._bounces = [
            (b[0], None if b[1] == campaign_id else b[1], *b[2:]) for b in self._bounces
        ]
        del self._campaigns[campaign_id]
        return current

    async def get_campaign(self, campaign_id: int) -> Campaign:
        return self._campaign(campaign_id)

    async def get_campaign_by_uuid(self, campaign_uuid: uuid.UUID) -> Campaign:
        for c in self._campaigns.values():
            if c.uuid == campaign_uuid:
                return c
        raise NotFound("no such campaign")

    async def campaigns(self) -> list[Campaign]:
        return [self._campaigns[k] for k in sorted(self._campaigns)]

    async def set_campaign_archive(self, campaign_id: int, archive: bool) -> Campaign:
        current = self._campaign(campaign_id)
        if current.archive != archive:
            current = dataclasses.replace(current, archive=archive, updated_at=utcnow())
            self._campaigns[campaign_id] = current
        return current

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
        current = self._campaign(campaign_id)
        if current.status not in expected:
            raise refusal(campaign_id, current.status, to, expected)
        values = transition_values(current, to, now.astimezone(dt.UTC), utc(send_at), reason)
        updated = dataclasses.replace(current, **values)
        self._campaigns[campaign_id] = updated
        return updated

    async def due_campaigns(self, now: dt.datetime) -> list[Campaign]:
        return [c for c in await self.campaigns() if is_due(c, now)]

    async def running_campaigns(self) -> list[Campaign]:
        return [c for c in await self.campaigns() if c.status is CampaignStatus.RUNNING]
