"""The storage seam's part for managing people (campaignd.store.protocol.SubscriberStore
includes it): the operator's update, delete, GDPR wipe, export pages and access, and the
subscriber's own changes from the public form and the preference page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from campaignd.domain import PersonalData, Subscriber, SubscriberStatus, SubscriberUpdate


class PeopleStore(Protocol):
    """Managing one subscriber or a page of them."""

    # -- managing subscribers ----------------------------------------------------------
    async def update_subscriber(
        self, subscriber_id: int, change: SubscriberUpdate, now: dt.datetime
    ) -> Subscriber:
        """Set the fields of `change` that are not None. Becoming blocklisted also unsubscribes
        from every list (as set_subscriber_status). Raise NotFound, or Conflict if the new
        address is another subscriber's (case-insensitively); nothing changes then."""
        ...

    async def subscriber_ids(self, emails: Sequence[str]) -> dict[str, int]:
        """The ids of the subscribers with these addresses, by lowercased address; addresses
        not found are left out."""
        ...

    async def delete_subscribers(self, subscriber_ids: Sequence[int], now: dt.datetime) -> int:
        """Delete these subscribers with their subscriptions, opt-in marks and bounces, in one
        transaction; return how many. Their ledger rows stay (counts stay exact), detached
        (subscriber_id = campaignd.rules.detached_subscriber_id), those still to send skipped
        (campaignd.rules.after_deletion). Raise NotFound naming unknown ids; nothing changes."""
        ...

    async def wipe_subscriber(self, subscriber_id: int, now: dt.datetime) -> int:
        """GDPR erasure: delete_subscribers, and the subscriber's address erased from the server
        replies of its ledger rows (campaignd.rules.erase_address), their Message-IDs (made from
        the subscriber's uuid) emptied; return the number of ledger rows kept anonymously.
        Raise NotFound."""
        ...

    async def subscribers_page(
        self,
        *,
        after_id: int = 0,
        limit: int = 1000,
        list_id: int | None = None,
        status: SubscriberStatus | None = None,
    ) -> list[Subscriber]:
        """Subscribers with id > after_id in id order, at most `limit` (keyset paging), only those
        with a subscription (of any status) to `list_id` and of `status` when given. Their
        `subscriptions` are not loaded (empty)."""
        ...

    async def personal_data(self, subscriber_id: int) -> PersonalData:
        """Everything held about one subscriber, in one read. Raise NotFound."""
        ...

    async def subscribe(self, subscriber_id: int, list_ids: Sequence[int], now: dt.datetime) -> int:
        """The subscriber asked for these lists (public form, preference page): subscriptions
        get campaignd.rules.resubscribe's status; return how many changed. Raise NotFound for
        an unknown list or subscriber, changing nothing."""
        ...

    async def set_subscriber_name(self, subscriber_id: int, name: str, now: dt.datetime) -> None:
        """Raise NotFound."""
        ...
        ...
