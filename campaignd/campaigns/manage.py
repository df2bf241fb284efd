"""Campaign management use cases: update (checked like create), clone as a draft, delete."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import TypeVar

from campaignd.campaigns.lifecycle import check_new_campaign, check_send_at
from campaignd.config import AppSettings
from campaignd.domain import Campaign, ContentType, NewCampaign
from campaignd.errors import InvalidInput
from campaignd.policy import DELETABLE, EDITABLE
from campaignd.rules import refused_change
from campaignd.store.protocol import Store

MAX_CLONE_NAME = 200
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class CampaignChanges:
    """What `campaigns update` changes; None keeps the current value. An empty `alt_body`,
    `template` or `segment` removes it (the plain text is then derived; no layout; every
    eligible member of the lists)."""

    name: str | None = None
    subject: str | None = None
    from_email: str | None = None
    body: str | None = None
    alt_body: str | None = None
    content_type: ContentType | None = None
    lists: tuple[str, ...] | None = None
    template: str | None = None
    messenger: str | None = None
    headers: tuple[tuple[str, str], ...] | None = None
    tags: tuple[str, ...] | None = None
    send_at: dt.datetime | None = None
    segment: str | None = None  # "" removes it

    def any(self) -> bool:
        return any(getattr(self, f.name) is not None for f in dataclasses.fields(self))

    def apply(self, to: NewCampaign) -> NewCampaign:
        """`to` with these changes."""

        def pick(new: _T | None, old: _T) -> _T:
            return old if new is None else new

        return NewCampaign(
            name=pick(self.name, to.name),
            subject=pick(self.subject, to.subject),
            from_email=pick(self.from_email, to.from_email),
            body=pick(self.body, to.body),
            lists=pick(self.lists, to.lists),
            alt_body=pick(self.alt_body, to.alt_body) or None,
            content_type=pick(self.content_type, to.content_type),
            template=pick(self.template, to.template) or None,
            messenger=pick(self.messenger, to.messenger),
            headers=pick(self.headers, to.headers),
            tags=pick(self.tags, to.tags),
            send_at=pick(self.send_at, to.send_at),
            segment=pick(self.segment, to.segment or "") or None,
        )


async def as_new(store: Store, campaign: Campaign) -> NewCampaign:
    """A stored campaign as the NewCampaign that would create it again (lists and template by
    name)."""
    names = await store.list_names()
    layout = (
        await store.get_template_by_id(campaign.template_id)
        if campaign.template_id is not None
        else None
    )
    return NewCampaign(
        name=campaign.name,
        subject=campaign.subject,
        from_email=campaign.from_email,
        body=campaign.body,
        lists=tuple(names[i] for i in campaign.list_ids if i in names),
        alt_body=campaign.alt_body,
        content_type=campaign.content_type,
        template=layout.name if layout else None,
        messenger=campaign.messenger,
        headers=campaign.headers,
        tags=campaign.tags,
        send_at=campaign.send_at,
        segment=campaign.segment,
    )


async def update_campaign(
    store: Store,
    campaign_id: int,
    changes: CampaignChanges,
    app: AppSettings,
    messengers: Collection[str],
    now: dt.datetime,
) -> Campaign:
    """Change a draft, scheduled or paused campaign. The result is checked exactly as
    `create` checks a new one, and a new send time must lie ahead; a running, finished or
    cancelled campaign is refused. Nothing changes unless every check passes."""
    current = await store.get_campaign(campaign_id)
    if current.status not in EDITABLE:
        raise refused_change(campaign_id, current.status, "update", EDITABLE)
    if not changes.any():
        raise InvalidInput(f"nothing to change in campaign {campaign_id}: give an option")
    check_send_at(changes.send_at, now)
    new = changes.apply(await as_new(store, current))
    template_id = await check_new_campaign(store, new, app, messengers)
    return await store.update_campaign(campaign_id, new, template_id, EDITABLE)


async def clone_campaign(
    store: Store,
    campaign_id: int,
    app: AppSettings,
    messengers: Collection[str],
    now: dt.datetime,
    name: str | None = None,
) -> Campaign:
    """A new draft with the campaign's content, lists, template, messenger and headers,
    named `name` or "Copy of NAME"; a send time is kept only if it lies ahead. Checked like
    create (a template or messenger removed since is reported)."""
    source = await as_new(store, await store.get_campaign(campaign_id))
    send_at = source.send_at if source.send_at is not None and source.send_at > now else None
    new = dataclasses.replace(
        source, name=name or f"Copy of {source.name}"[:MAX_CLONE_NAME], send_at=send_at
    )
    template_id = await check_new_campaign(store, new, app, messengers)
    return await store.create_campaign(new, template_id)


async def delete_campaign(store: Store, campaign_id: int) -> Campaign:
    """Delete a draft, finished or cancelled campaign with its ledger rows (who got it, who
    failed); bounces it caused stay on the subscribers. Running, paused and scheduled ones
    are refused: cancel them first."""
    check_deletable(await store.get_campaign(campaign_id))
    return await store.delete_campaign(campaign_id, DELETABLE)


def check_deletable(campaign: Campaign) -> None:
    """TransitionRefused unless the campaign is draft, finished or cancelled (asked before a
    confirmation prompt; the store checks again as it deletes)."""
    if campaign.status not in DELETABLE:
        raise refused_change(campaign.id, campaign.status, "delete", DELETABLE)
