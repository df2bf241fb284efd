"""The pacer spaces acquisitions exactly, with no initial burst; the window caps any window."""

from __future__ import annotations

import asyncio

import pytest

from campaignd.ratelimit import RateLimiter, SlidingWindow


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_has_no_initial_burst_and_spaces_evenly() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, clock=clock)
    waits = [limiter.reserve() for _ in range(100)]
    # 100 acquisitions at the same instant: the n-th waits n/50 s; nothing is free but the first.
    assert waits[0] == 0.0
    assert waits[1] == pytest.approx(0.02)
    assert waits[99] == pytest.approx(99 / 50)


def test_pacer_does_not_bank_idle_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock)
    limiter.reserve()
    clock.now += 60  # idle for a minute: no credit may build up into a burst
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(0.1)


def test_zero_rate_is_unlimited() -> None:
    limiter = RateLimiter(0, clock=FakeClock())
    assert all(limiter.reserve() == 0.0 for _ in range(1000))
    assert limiter.rate == 0.0


def test_negative_rate_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        RateLimiter(-1)


def test_sliding_window_caps_every_window() -> None:
    clock = FakeClock()
    window = SlidingWindow(3, 10.0, clock=clock)
    assert [window.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert window.reserve() == pytest.approx(10.0)  # the 4th waits for the 1st to leave
    clock.now += 10.0
    assert window.reserve() == pytest.approx(0.0)


async def test_pacer_real_clock_rate() -> None:
    limiter = RateLimiter(200)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(41):
        await limiter.acquire()
    elapsed = loop.time() - start
    # 41 acquisitions at 200/s take 40 intervals = 0.2 s (never less: no burst).
    assert elapsed >= 0.2 - 0.002
    assert elapsed < 0.5


def test_a_slightly_late_caller_keeps_the_grid() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock)  # 10 ms grid
    assert limiter.reserve() == 0.0
    clock.now += 0.013  # woke 3 ms late for the slot at +10 ms
    assert limiter.reserve() == 0.0
    # The next slot stays on the grid (+20 ms), 7 ms away, not 10 ms after the late caller.
    assert limiter.reserve() == pytest.approx(0.007)
