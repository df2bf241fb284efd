"""Rate limits: an exact, burst-free pacer and a sliding-window cap.

aiolimiter's leaky bucket allows an initial burst of its full capacity and is per minute by
default; a mailing-list operator who asks for 50 messages a second means no more than that in
any second, including the first. ``RateLimiter`` therefore spaces acquisitions evenly (a GCRA
schedule): each caller is given the next free slot and sleeps until it. The clock is injectable
so the schedule tests without sleeping.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

#: Slots closer than this are taken at once: one timer per message costs more than it smooths.
_SLACK = 0.001


class RateLimiter:
    """At most `rate` acquisitions per second, evenly spaced; `rate` 0 means unlimited."""

    def __init__(self, rate: float, clock: Callable[[], float] | None = None) -> None:
        if rate < 0:
            raise ValueError("rate cannot be negative")
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._next = 0.0
        self.waited = 0.0  # seconds spent waiting, for metrics

    @property
    def rate(self) -> float:
        return 1.0 / self._interval if self._interval else 0.0

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def reserve(self) -> float:
        """Take the next slot; return how long the caller must wait for it."""
        if not self._interval:
            return 0.0
        now = self._now()
        # Keep to the grid: a caller that is only a little late (the loop woke it late) still
        # gets its slot on the grid, so lateness does not pile up into a lower rate. After an
        # idle spell (more than one interval late) the grid restarts at now: no saved-up burst.
        slot = self._next if now - self._next <= self._interval else now
        self._next = slot + self._interval
        return max(0.0, slot - now)

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > _SLACK:
            self.waited += delay
            await asyncio.sleep(delay)


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
