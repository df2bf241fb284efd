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
from campaignd.rules import is_due, refusal, transition_values
from campaignd.store.memory.state import MemoryState, utc


class MemoryCampaigns(MemoryState):
    """Templates and campaigns."""

    # -- templates ---------------------------------------------------------------------------
    async def add_template(self, name: str, body: str) -> Template:
        if any(t.name == name for t in self._templates.values()):
            raise Conflict(f"template {name!r} already exists")
        new = Template(self._next("template"), name, body, utcnow())
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

    # -- campaigns ---------------------------------------------------------------------------
    async def create_campaign(self, campaign: NewCampaign, template_id: int | None) -> Campaign:
        by_name = {m.name: m.id for m in self._lists.values()}
        names = list(dict.fromkeys(campaign.lists))
        missing = [n for n in names if n not in by_name]
        if missing:
            raise NotFound(f"no list named {', '.join(repr(n) for n in missing)}")
        if template_id is not None and template_id not in self._templates:
            raise NotFound(f"no template with id {template_id}")
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
            list_ids=tuple(sorted(by_name[n] for n in names)),
            created_at=now,
            updated_at=now,
        )
        self._campaigns[new.id] = new
        return new

    async def get_campaign(self, campaign_id: int) -> Campaign:
        return self._campaign(campaign_id)

    async def get_campaign_by_uuid(self, campaign_uuid: uuid.UUID) -> Campaign:
        for c in self._campaigns.values():
            if c.uuid == campaign_uuid:
                return c
        raise NotFound("no such campaign")

    async def campaigns(self) -> list[Campaign]:
        return [self._campaigns[k] for k in sorted(self._campaigns)]

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
