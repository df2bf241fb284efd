"""A list's growth (use case): subscriptions and unsubscribes per UTC day, and the running total.

Built from the subscriptions' own dates (Store.list_growth): a subscription counts as new on the
day it was created; one that is unsubscribed now counts as an unsubscribe on the day of its last
change. Only the latest state is stored, so a subscriber who left and came back counts once, as
new, and deleted (or wiped) subscribers leave no trace; the total at the end is therefore exactly
the list's subscriber count now.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from campaignd.domain import SubscriptionDay
from campaignd.errors import InvalidInput, NotFound
from campaignd.store.protocol import SubscriberStore

#: How many days a growth report covers unless asked otherwise, and at most.
DEFAULT_DAYS = 90
MAX_DAYS = 3660


@dataclass(frozen=True, slots=True)
class GrowthPoint:
    at: str  # ISO-8601 date (UTC)
    subscribed: int  # subscriptions created that day
    unsubscribed: int  # subscriptions ended that day (and not renewed since)
    total: int  # subscribers at the end of the day


@dataclass(frozen=True, slots=True)
class ListGrowth:
    id: int
    name: str
    subscribers: int  # now (the list's subscriber count)
    days: int
    before: int  # subscribers before the first day shown
    series: tuple[GrowthPoint, ...]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def growth_series(
    found: Sequence[SubscriptionDay], last: dt.date, days: int
) -> tuple[int, tuple[GrowthPoint, ...]]:
    """(the total before the window, one point per day of the `days` ending on `last`, days
    without a change included). Days after `last` (a clock behind the database's) are folded
    into `last` so the final total stays the list's count."""
    first = last - dt.timedelta(days=days - 1)
    before = sum(d.subscribed - d.unsubscribed for d in found if d.day < first)
    per: dict[dt.date, list[int]] = {}
    for d in found:
        if d.day >= first:
            counts = per.setdefault(min(d.day, last), [0, 0])
            counts[0] += d.subscribed
            counts[1] += d.unsubscribed
    total, points = before, []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        made, ended = per.get(day, (0, 0))
        total += made - ended
        points.append(GrowthPoint(day.isoformat(), made, ended, total))
    return before, tuple(points)


async def list_growth(
    store: SubscriberStore, list_id: int, now: dt.datetime, days: int = DEFAULT_DAYS
) -> ListGrowth:
    """The growth of one list over the `days` up to today (UTC); NotFound for an unknown id."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be 1 to {MAX_DAYS}, got {days}")
    mailing_list = next((m for m in await store.lists() if m.id == list_id), None)
    if mailing_list is None:
        raise NotFound(f"no list with id {list_id}")
    found = await store.list_growth(list_id)
    before, points = growth_series(found, now.astimezone(dt.UTC).date(), days)
    return ListGrowth(
        mailing_list.id, mailing_list.name, mailing_list.subscriber_count, days, before, points
    )
