"""Rate limits: aiolimiter's leaky bucket sized to a 10 ms burst, and a sliding-window cap.

``RateLimiter`` wraps ``aiolimiter.AsyncLimiter`` (no other module of ours imports it). The
library's bucket starts empty, so its full capacity is free at once; with its defaults
(``AsyncLimiter(rate)``: ``rate`` per *minute*) that is a minute's worth. Sized as
``AsyncLimiter(capacity, capacity / rate)`` with a small capacity it drains at ``rate`` per
second and bursts at most ``capacity`` messages. The capacity here is one message plus 10 ms
of the rate (``1 + rate / 100``): no window of T seconds holds more than ``rate * (T + 0.01)
+ 1`` messages, so no second more than 1% above the rate plus one message; and a caller the
event loop wakes up to 10 ms late takes the credit it left in the bucket, so lateness does
not lower the rate. A bucket of exactly one message loses every late wake-up: on uvloop,
whose timers tick in milliseconds, 50/s held only 46.2-47.8/s in three runs (``python -m
bench.limiter``, docs/performance.md). aiolimiter has no sliding window: ``SlidingWindow``.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

from aiolimiter import AsyncLimiter

#: The burst a `RateLimiter` allows on top of one message, in seconds of its rate.
BURST_S = 0.01


class RateLimiter:
    """At most `rate` acquisitions per second, bursting at most ``1 + rate / 100``; 0: unlimited.

    A settings reload replaces the limiter: callers waiting in the old one keep its pace.
    """

    def __init__(self, rate: float) -> None:
        if rate < 0:
            raise ValueError("rate cannot be negative")
        self.rate = float(rate)
        self.capacity = 1.0 + rate * BURST_S
        self._bucket = AsyncLimiter(self.capacity, self.capacity / rate) if rate else None
        self.waited = 0.0  # seconds spent waiting, for metrics

    async def acquire(self) -> None:
        bucket = self._bucket
        if bucket is None:
            return
        if bucket.has_capacity():
            await bucket.acquire()  # returns at once: nothing awaited in between
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        await bucket.acquire()
        self.waited += loop.time() - started


class SlidingWindow:
    """At most `limit` acquisitions in any `duration`-second window."""

    def __init__(self, limit: int, duration: float, clock: Callable[[], float] | None = None):
        if limit < 1 or duration <= 0:
            raise ValueError("limit must be >= 1 and duration > 0")
        self._limit = limit
        self._duration = duration
        self._clock = clock
        self._times: collections.deque[float] = collections.deque()

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def reserve(self) -> float:
        """Record one acquisition at the earliest allowed time; return the wait until then."""
        now = self._now()
        times = self._times
        while times and times[0] <= now - self._duration:
            times.popleft()
        at = now if len(times) < self._limit else times[-self._limit] + self._duration
        times.append(at)
        return max(0.0, at - now)

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
