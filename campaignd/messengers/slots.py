"""A server's connection slots: taken in turn, a waiting send gives up after `timeout`.

Like asyncio.Semaphore with asyncio.timeout around each wait, without a Timeout object and a
timer per waiting send (with 100 sends in flight on 10 connections, 90 wait at any time): the
waiters share one timer, set for the oldest one's deadline and moved on only when it fires.
Every waiter has the same limit, so deadlines come in the order of the queue.

A waiting send may carry a ticket (its envelope and message): a connection about to send a
message can `adopt` the longest waiting send, whose slot then comes from that connection's
send rather than from `give_back`, and which can no longer time out.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Slots(Generic[T]):
    """`size` slots; `take` waits in turn (FIFO) at most `timeout` seconds, `give_back` ends one."""

    def __init__(self, size: int, timeout: float) -> None:
        self._free = size
        self._timeout = timeout
        # (deadline, waiter); a waiter is resolved True (given a slot) or False (gave up), or
        # cancelled with its task. Resolved and cancelled waiters leave the queue lazily.
        self._waiters: deque[tuple[float, asyncio.Future[bool], T | None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def locked(self) -> bool:
        """Would `take` wait?"""
        return not self._free

    async def take(self, ticket: T | None = None) -> bool:
        """Take a slot; False if none came free within the timeout. `ticket`: see `adopt`."""
        if self._free:
            self._free -= 1
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append((deadline, waiter, ticket))
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire, loop)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.give_back()  # handed a slot as this send was cancelled: pass it on
            raise

    def give_back(self) -> None:
        """End a slot taken with `take`: hand it to the longest waiting send, if any."""
        waiters = self._waiters
        while waiters:
            _, waiter, _ = waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self._free += 1

    def adopt(self, fits: Callable[[T], bool]) -> tuple[T, asyncio.Future[bool]] | None:
        """Take the longest waiting send out of the queue if its ticket `fits`; else None.

        It no longer times out nor gets a slot from `give_back`: whoever adopted it resolves
        its future with True (handing it a slot) or lets it be cancelled with its task.
        """
        waiters = self._waiters
        while waiters:
            _, waiter, ticket = waiters[0]
            if waiter.done():
                waiters.popleft()
                continue
            if ticket is None or not fits(ticket):
                return None
            waiters.popleft()
            return ticket, waiter
        return None

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        waiters = self._waiters
        while waiters:
            deadline, waiter, _ = waiters[0]
            if waiter.done():
                waiters.popleft()
            elif deadline <= now:
                waiters.popleft()
                waiter.set_result(False)
            else:
                self._timer = loop.call_at(deadline, self._expire, loop)
                return
