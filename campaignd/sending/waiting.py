"""One runner's paced recipients: claimed, waiting for their domain group, without blocking others.

With [[domain_limits]] configured, a runner does not wait for a saturated group with a slot in
hand: it sets that recipient aside here (per group, in claim order) and sends the next one of
its batch. Recipients set aside go first as soon as their group allows. Their ledger rows stay
claimed by this runner (renewed by its watcher, released when it stops, recovered by the
lease after a crash), so nothing is sent twice. The queue is bounded (``WAITING_BOUND``): the
runner claims only as many rows as it has room for, and when it is full it sends what waits
before claiming more.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Iterator

from campaignd.domain import Recipient
from campaignd.sending.pacing import DomainPacer, PaceGroup

#: Recipients one runner keeps aside at most (a claimed row holds its attributes in memory).
WAITING_BOUND = 10_000


class Waiting:
    """The recipients of one runner set aside per group, and the choice of the next to send."""

    __slots__ = ("_queues", "bound", "count", "pacer")

    def __init__(self, pacer: DomainPacer, bound: int = WAITING_BOUND) -> None:
        self.pacer = pacer
        self.bound = bound
        self.count = 0
        self._queues: dict[PaceGroup, deque[Recipient]] = {}

    def room(self, pending: int = 0) -> int:
        """Rows this runner may claim now, `pending` more possibly set aside soon."""
        return max(0, self.bound - self.count - pending)

    def pick(
        self, batch: Iterator[Recipient], now: float
    ) -> tuple[Recipient, PaceGroup | None] | None:
        """The next recipient to send now, its group's place taken (``PaceGroup.take``): one
        set aside whose group allows it, else the next of `batch` whose group allows it; the
        batch's recipients passed over are set aside. None: nothing can be sent now."""
        for group, queue in self._queues.items():
            if group.take(now):
                recipient = queue.popleft()
                self.count -= 1
                if not queue:
                    del self._queues[group]  # returns at once: the iteration ends here
                return recipient, group
        group_of = self.pacer.group_of
        for recipient in batch:
            paced = group_of(recipient.email)
            if paced is None:
                return recipient, None
            if paced not in self._queues and paced.take(now):
                return recipient, paced
            self._queues.setdefault(paced, deque()).append(recipient)
            self.count += 1
        return None

    def ready_in(self, now: float) -> float:
        """Seconds until a recipient set aside may go (``inf``: only a send ending can tell)."""
        return min((g.wait(now) for g in self._queues), default=math.inf)

    def clear(self) -> int:
        """Forget every recipient set aside (their claims are released by the runner)."""
        count, self.count = self.count, 0
        self._queues.clear()
        return count


class Wakeup:
    """Wakes the runners waiting for a group when one of its messages ends (shared by an engine)."""

    __slots__ = ("_future",)

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    def notify(self) -> None:
        future, self._future = self._future, None
        if future is not None and not future.done():
            future.set_result(None)

    async def wait(self, seconds: float) -> None:
        """Until the next `notify`, at most `seconds`."""
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        await asyncio.wait({self._future}, timeout=seconds)
