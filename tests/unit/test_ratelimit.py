"""The rate limiter bursts at most one message plus 10 ms of its rate; the window caps any window.

The limiter reads the event loop's clock (aiolimiter does), so these tests run it on a loop
whose clock is virtual: when nothing is ready, time jumps to the next timer. Each turn of the
loop also takes a nanosecond, as on a real clock: on one that stands still aiolimiter can
reschedule its wake-up for a float rounding error's worth of capacity forever.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable, Iterator

import pytest

from campaignd.ratelimit import RateLimiter, SlidingWindow


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


#: Virtual time each turn of the loop takes.
TICK = 1e-9
#: Tolerance of the virtual timings: ticks add up to well under a microsecond here.
US = 1e-6


class _JumpingSelector(selectors.DefaultSelector):
    """Never sleeps: a wait for the next timer moves the virtual clock to it instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise AssertionError("the test waits for something that never comes")
        self.now += timeout + TICK
        return super().select(0)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.selector = _JumpingSelector()
        super().__init__(self.selector)

    def time(self) -> float:
        return self.selector.now

    def busy(self, seconds: float) -> None:
        """Hold the loop like a callback that computes for `seconds`."""
        self.selector.now += seconds


def approx(expected: object) -> object:
    return pytest.approx(expected, abs=US)


Main = Callable[[VirtualTimeLoop], Awaitable[list[float]]]
Run = Callable[[Main], list[float]]


@pytest.fixture
def run() -> Iterator[Run]:
    loop = VirtualTimeLoop()

    def go(main: Main) -> list[float]:
        return loop.run_until_complete(main(loop))

    yield go
    loop.close()


def acquired_at(limiter: RateLimiter, n: int) -> Main:
    """`n` callers acquire at once; the times they get through, from the first."""

    async def main(loop: VirtualTimeLoop) -> list[float]:
        start = loop.time()
        times: list[float] = []

        async def one() -> None:
            await limiter.acquire()
            times.append(loop.time() - start)

        await asyncio.gather(*(one() for _ in range(n)))
        return times

    return main


def test_burst_is_one_message_plus_10ms_of_the_rate(run: Run) -> None:
    times = run(acquired_at(RateLimiter(5000), 60))
    # 1 + 5000/100 = 51 go at once; then one every 0.2 ms, never faster.
    assert times[:51] == approx([0.0] * 51)
    assert times[51:] == approx([0.0002 * k for k in range(1, 10)])


def test_a_low_rate_has_no_burst_and_keeps_its_pace(run: Run) -> None:
    times = run(acquired_at(RateLimiter(50), 101))
    # The bucket holds 1.5 messages: the second follows 10 ms after the first, then every 20 ms.
    assert times[:3] == approx([0.0, 0.01, 0.03])
    assert times[-1] == approx(0.01 + 99 / 50)
    assert sum(1 for t in times if t < 1.0) == 51  # the first second: 50, plus the 10 ms credit


def test_idle_time_is_not_banked(run: Run) -> None:
    limiter = RateLimiter(10)

    async def main(loop: VirtualTimeLoop) -> list[float]:
        await limiter.acquire()
        await asyncio.sleep(60)  # idle for a minute: no credit may build up into a burst
        return await acquired_at(limiter, 3)(loop)

    assert run(main) == approx([0.0, 0.09, 0.19])


def test_a_late_wake_up_does_not_lower_the_rate(run: Run) -> None:
    limiter = RateLimiter(50)  # one every 20 ms; the bucket holds 1.5

    async def main(loop: VirtualTimeLoop) -> list[float]:
        loop.call_at(loop.time() + 0.029, loop.busy, 0.007)  # the loop stalls 29-36 ms
        return await acquired_at(limiter, 6)(loop)

    # The caller due at 30 ms goes at 36 ms; the next ones stay on the 20 ms grid.
    assert run(main) == approx([0.0, 0.01, 0.036, 0.05, 0.07, 0.09])


def test_waits_are_counted_for_metrics(run: Run) -> None:
    limiter = RateLimiter(10)
    run(acquired_at(limiter, 3))
    assert limiter.waited == approx(0.09 + 0.19)


def test_zero_rate_is_unlimited(run: Run) -> None:
    limiter = RateLimiter(0)
    assert run(acquired_at(limiter, 1000)) == approx([0.0] * 1000)
    assert limiter.rate == 0.0
    assert limiter.waited == 0.0


def test_negative_rate_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        RateLimiter(-1)


def test_sliding_window_caps_every_window() -> None:
    clock = FakeClock()
    window = SlidingWindow(3, 10.0, clock=clock)
    assert [window.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert window.reserve() == approx(10.0)  # the 4th waits for the 1st to leave
    clock.now += 10.0
    assert window.reserve() == approx(0.0)


async def test_real_clock_rate() -> None:
    limiter = RateLimiter(200)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(41):
        await limiter.acquire()
    elapsed = loop.time() - start
    # 41 acquisitions at 200/s: 3 at once (1 + 200/100), then 38 intervals of 5 ms = 0.19 s.
    assert elapsed >= 0.19 - 0.002
    assert elapsed < 0.5
