"""A list's growth: the window of days, the running total, and the chart drawn from it."""

from __future__ import annotations

import datetime as dt

import pytest

from campaignd.campaigns.growth import GrowthPoint, growth_series, list_growth
from campaignd.dashboard.views import chart
from campaignd.domain import OptIn, SubscriptionDay
from campaignd.errors import InvalidInput, NotFound
from campaignd.store.memory import MemoryStore

D = dt.date(2026, 3, 10)


def day(offset: int) -> dt.date:
    return D + dt.timedelta(days=offset)


def test_days_before_the_window_make_the_starting_total_and_gaps_are_zero() -> None:
    found = [
        SubscriptionDay(day(-10), 5, 0),
        SubscriptionDay(day(-3), 1, 2),  # the window's first day
        SubscriptionDay(day(-1), 4, 0),
    ]
    before, points = growth_series(found, D, 4)
    assert before == 5
    assert points == (
        GrowthPoint(day(-3).isoformat(), 1, 2, 4),
        GrowthPoint(day(-2).isoformat(), 0, 0, 4),
        GrowthPoint(day(-1).isoformat(), 4, 0, 8),
        GrowthPoint(D.isoformat(), 0, 0, 8),
    )


def test_days_after_today_count_on_today_so_the_total_stays_exact() -> None:
    before, points = growth_series([SubscriptionDay(day(2), 3, 1)], D, 1)
    assert (before, points) == (0, (GrowthPoint(D.isoformat(), 3, 1, 2),))


async def test_the_use_case_names_the_list_and_refuses_bad_windows() -> None:
    store = MemoryStore()
    made = await store.create_list("news", OptIn.SINGLE, "")
    now = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    growth = await list_growth(store, made.id, now, days=7)
    assert (growth.name, growth.subscribers, growth.days, len(growth.series)) == ("news", 0, 7, 7)
    with pytest.raises(NotFound):
        await list_growth(store, made.id + 1, now)
    for bad in (0, 3661):
        with pytest.raises(InvalidInput, match="days must be 1 to 3660"):
            await list_growth(store, made.id, now, days=bad)


def test_the_chart_scales_its_lines_to_the_largest_value() -> None:
    _, points = growth_series([SubscriptionDay(day(-1), 4, 0), SubscriptionDay(D, 0, 2)], D, 2)
    drawn = chart(points, ("subscribed", "unsubscribed"))
    assert drawn is not None
    assert drawn.top == 4
    assert [line.points for line in drawn.lines] == ["0.0,0.0 600.0,160.0", "0.0,160.0 600.0,80.0"]
    assert chart((), ("total",)) is None
