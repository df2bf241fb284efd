"""Per-domain pacing, pure: a recipient's [[domain_limits]] group, and when the group may send.

One ``DomainPacer`` per daemon process holds a ``PaceGroup`` per [[domain_limits]] entry, shared
by every campaign and messenger of the process. A group sends while it has a token (its
``max_rate``, a bucket bursting at most ``1 + rate / 100`` like campaignd.ratelimit), fewer
than ``max_in_flight`` messages out, and no back-off pause. A "too fast" reply from one of its
domains pauses it for its back-off, twice as long at each further one up to ``max_backoff``;
a message accepted after the pause resets it. Time is an argument (``now``, monotonic
seconds), so all of it is tested with a fake clock; the runner passes the event loop's time.
Entries with `mx` patterns also take the domains whose MX hosts match (campaignd.sending.mxgroups,
looked up when a batch is claimed: ``prepare``); without them the lookup is one dict access.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from campaignd.config import DomainLimitSettings
from campaignd.domain import Recipient
from campaignd.messengers.mx import MxResolver
from campaignd.ratelimit import BURST_S
from campaignd.sending.mxgroups import MxGroups


@dataclass(frozen=True, slots=True)
class Throttle:
    """A group's back-off after a "too fast" reply: paused until `until`; `fresh` when this
    reply started the pause (not one more reply from messages already in flight)."""

    until: float
    seconds: float
    fresh: bool


@dataclass(eq=False, slots=True)
class PaceGroup:
    """The shared limit of one [[domain_limits]] entry (hashed by identity)."""

    label: str
    rate: float | None
    max_in_flight: int | None
    backoff: float
    max_backoff: float
    in_flight: int = 0
    paused_until: float = -math.inf
    next_backoff: float = 0.0
    throttles: int = 0  # pauses started, for logs and metrics
    capacity: float = field(init=False)
    tokens: float = field(init=False)
    stamp: float | None = field(init=False, default=None)  # when `tokens` was counted

    def __post_init__(self) -> None:
        self.capacity = 1.0 + (self.rate or 0.0) * BURST_S
        self.tokens = self.capacity
        self.next_backoff = self.backoff

    @classmethod
    def of(cls, entry: DomainLimitSettings) -> PaceGroup:
        return cls(
            entry.label, entry.max_rate, entry.max_in_flight, entry.backoff, entry.max_backoff
        )

    def _refill(self, now: float) -> None:
        rate = self.rate
        if rate is None:
            return
        if self.stamp is not None and now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * rate)
        if self.stamp is None or now > self.stamp:
            self.stamp = now

    def wait(self, now: float) -> float:
        """Seconds until this group may send one more message: 0 now; ``inf`` while it has
        `max_in_flight` messages out (only one of them ending can free it)."""
        if now < self.paused_until:
            return self.paused_until - now
        if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
            return math.inf
        if self.rate is None:
            return 0.0
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> bool:
        """Start one message if the group allows it now (a token and an in-flight place)."""
        if self.wait(now) > 0.0:
            return False
        if self.rate is not None:
            self.tokens -= 1.0
        self.in_flight += 1
        return True

    def done(self, now: float, *, sent: bool, throttled: bool) -> Throttle | None:
        """One message of this group ended: accepted (`sent`), refused as "too fast"
        (`throttled`), or anything else. Returns the pause a "too fast" reply means."""
        self.in_flight = max(0, self.in_flight - 1)
        if throttled:
            if now < self.paused_until:  # a message sent before the pause began: no doubling
                return Throttle(self.paused_until, self.paused_until - now, fresh=False)
            seconds = self.next_backoff
            self.paused_until = now + seconds
            self.next_backoff = min(self.max_backoff, seconds * 2)
            self.throttles += 1
            # After the pause the group starts again with one message, not a burst.
            self.tokens = min(self.tokens, 1.0)
            self.stamp = self.paused_until
            return Throttle(self.paused_until, seconds, fresh=True)
        if sent and now >= self.paused_until:
            self.next_backoff = self.backoff
        return None


class DomainPacer:
    """Every [[domain_limits]] group of a daemon process, found by recipient domain (and, for
    entries with `mx` patterns, by the domain's MX hosts through `resolver`)."""

    def __init__(
        self, limits: Iterable[DomainLimitSettings], resolver: MxResolver | None = None
    ) -> None:
        self.groups: tuple[PaceGroup, ...] = ()
        self._by_domain: dict[str, PaceGroup] = {}
        by_mx: list[tuple[PaceGroup, tuple[str, ...]]] = []
        for entry in limits:
            group = PaceGroup.of(entry)
            self.groups += (group,)
            for domain in entry.domains:
                self._by_domain[domain] = group
            if entry.mx:
                by_mx.append((group, entry.mx))
        if by_mx and resolver is None:
            raise ValueError("[[domain_limits]] with mx patterns need an MX resolver")
        self.mx = MxGroups(by_mx, resolver) if by_mx and resolver is not None else None

    def group_of(self, email: str) -> PaceGroup | None:
        """The group of an address's domain (stored addresses carry `normalize_email`'s
        lower-case Unicode domain, the form [[domain_limits]] domains are kept in)."""
        domain = email.rpartition("@")[2].lower()
        group = self._by_domain.get(domain)
        if group is None and self.mx is not None:
            return self.mx.group_of(domain)
        return group

    async def prepare(self, batch: Iterable[Recipient], now: float) -> None:
        """Look up the MX hosts of the batch's domains not listed and not known yet (only
        with `mx` patterns; the runner calls it in the claim step)."""
        if self.mx is None:
            return
        listed = self._by_domain
        domains = (r.email.rpartition("@")[2].lower() for r in batch)
        await self.mx.resolve((d for d in domains if d not in listed), now)
