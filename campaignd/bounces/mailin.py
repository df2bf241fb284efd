"""Apply one classified inbound mail to the subscriber and campaign its VERP address names.

The receiver (campaignd.daemon.inbound) has verified the address's token, so the subscriber
and campaign come from the token, never from the mail: a report naming other addresses
cannot suppress them, and a subscriber who forwards mail elsewhere is still the one bounced.

- hard, soft, complaint: one BounceEvent for that subscriber through the Suppressor (the
  [bounces] counts and actions), recorded with the campaign (the ledger row is the campaign's
  row of that subscriber) and the event id ``<fingerprint>/<subscriber uuid>``: the same
  report delivered twice is counted once;
- unsubscribe (mail to the unsubscribe address): the subscriber leaves the campaign's lists,
  or every list when the campaign no longer exists, like the one-click link;
- ignore: nothing changes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from campaignd.bounces.inbound import MailKind, MailResult
from campaignd.bounces.rules import BounceEvent
from campaignd.bounces.suppression import Suppressor
from campaignd.domain import Campaign
from campaignd.errors import NotFound
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

SOURCE = "mail"


@dataclass(frozen=True, slots=True)
class Applied:
    """What one inbound mail did: bounced, duplicate, unsubscribed, ignored or unknown."""

    outcome: str
    subscriber_id: int | None = None
    campaign_id: int | None = None


class MailApplier:
    """Applies classified mail; raises StoreError when the database fails (the caller answers
    with a temporary error so the sending MTA retries)."""

    def __init__(self, store: Store, suppressor: Suppressor) -> None:
        self.store = store
        self.suppressor = suppressor

    async def apply(
        self, result: MailResult, campaign_id: int, subscriber_uuid: uuid.UUID
    ) -> Applied:
        kind = result.kind
        if kind is MailKind.IGNORE:
            log.info(
                "inbound mail ignored: %s",
                result.reason,
                extra={"action": "inbound.ignored", "campaign_id": campaign_id},
            )
            return Applied("ignored")
        try:
            subscriber = await self.store.get_subscriber_by_uuid(subscriber_uuid)
        except NotFound:
            log.info(
                "inbound %s for a subscriber that no longer exists",
                kind.value,
                extra={"action": "inbound.unknown", "campaign_id": campaign_id},
            )
            return Applied("unknown")
        campaign = await self._campaign(campaign_id)
        known_campaign = campaign.id if campaign is not None else None
        if kind is MailKind.UNSUBSCRIBE:
            list_ids = campaign.list_ids if campaign is not None else None
            changed = await self.store.unsubscribe(subscriber.id, list_ids)
            log.info(
                "subscriber %d unsubscribed by mail from %s (%d subscriptions changed)",
                subscriber.id,
                "every list" if list_ids is None else f"lists {list(list_ids)}",
                changed,
                extra={"action": "inbound.unsubscribe", "campaign_id": known_campaign},
            )
            return Applied("unsubscribed", subscriber.id, known_campaign)
        bounce_type = kind.bounce_type
        assert bounce_type is not None
        reason = " ".join(p for p in (result.status or "", result.diagnostic) if p)
        event = BounceEvent(
            subscriber.email,
            bounce_type,
            SOURCE,
            (reason or result.reason)[:500],
            campaign_id=known_campaign,
            subscriber_id=subscriber.id,
            event_id=f"{result.fingerprint}/{subscriber_uuid.hex}",
        )
        done = await self.suppressor.apply(event)
        outcome = "bounced" if done.recorded else "duplicate"
        return Applied(outcome, subscriber.id, known_campaign)

    async def _campaign(self, campaign_id: int) -> Campaign | None:
        try:
            return await self.store.get_campaign(campaign_id)
        except NotFound:
            return None
