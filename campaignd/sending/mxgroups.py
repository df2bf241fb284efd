"""[[domain_limits]] `mx` grouping: which group a recipient domain joins by its MX hosts.

A domain listed in an entry's `domains` is that entry's, always (campaignd.sending.pacing).
Any other domain of a claimed batch is looked up once (campaignd.messengers.mx), in the claim
step before the batch is sent: the runner claims the next batch while one is sent, so the
look-ups overlap the sending, and only a campaign's first batch (or one full of new domains)
waits for them, at most the look-up timeout. The domain then joins the first entry (in file
order) one of whose `mx` patterns matches one of its most preferred MX hosts, or no group.
Answers are kept for their DNS TTL, at most ``MAX_TTL``, and for at most ``CACHE_SIZE`` domains
(the oldest answer goes first); a failed look-up leaves the domain ungrouped until it is asked
again after campaignd.messengers.mx's FAILED_TTL. Time is an argument (``now``, the loop's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from campaignd.messengers.mx import MxAnswer, MxResolver

if TYPE_CHECKING:  # pacing builds these groups
    from campaignd.sending.pacing import PaceGroup

#: Longest an MX answer is kept, whatever its TTL (a domain that moves its mail is regrouped).
MAX_TTL = 3600.0
#: Domains whose answer is kept at most (about 100 bytes each).
CACHE_SIZE = 100_000
#: Look-ups in flight at most for one batch.
PARALLEL = 32


def matches(pattern: str, host: str) -> bool:
    """An `mx` pattern against an MX host: equal, or ``*.suffix`` and a host below suffix."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


class MxGroups:
    """The MX-grouped domains of one pacer: resolved per distinct domain, cached, bounded."""

    def __init__(
        self,
        entries: Sequence[tuple[PaceGroup, tuple[str, ...]]],
        resolver: MxResolver,
        *,
        size: int = CACHE_SIZE,
        max_ttl: float = MAX_TTL,
    ) -> None:
        self.entries = tuple(entries)
        self.resolver = resolver
        self.size = size
        self.max_ttl = max_ttl
        self._known: dict[str, tuple[PaceGroup | None, float]] = {}  # domain -> group, expiry

    def __len__(self) -> int:
        return len(self._known)

    def group_of(self, domain: str) -> PaceGroup | None:
        """The group `domain` joined at its last look-up (kept past its TTL until the next
        batch with it asks again); None: no MX pattern matched, or not looked up."""
        known = self._known.get(domain)
        return None if known is None else known[0]

    def match(self, hosts: Iterable[str]) -> PaceGroup | None:
        """The first entry one of whose patterns matches one of `hosts`."""
        hosts = tuple(hosts)
        for group, patterns in self.entries:
            if any(matches(p, h) for p in patterns for h in hosts):
                return group
        return None

    def stale(self, domains: Iterable[str], now: float) -> list[str]:
        """Those of `domains` never looked up, or whose answer has expired (each once)."""
        known = self._known
        out: dict[str, None] = {}
        for domain in domains:
            entry = known.get(domain)
            if entry is None or entry[1] <= now:
                out[domain] = None
        return list(out)

    def learn(self, domain: str, answer: MxAnswer, now: float) -> None:
        """Keep `domain`'s group for the answer's TTL (at most `max_ttl`), forgetting the
        oldest answer when `size` are kept."""
        known = self._known
        known.pop(domain, None)
        while len(known) >= self.size:
            del known[next(iter(known))]
        known[domain] = (self.match(answer.hosts), now + min(answer.ttl, self.max_ttl))

    async def resolve(self, domains: Iterable[str], now: float) -> None:
        """Look up the stale ones of `domains`, `PARALLEL` at a time, and learn the answers."""
        todo = self.stale(domains, now)
        if not todo:
            return
        gate = asyncio.Semaphore(PARALLEL)

        async def one(domain: str) -> tuple[str, MxAnswer]:
            async with gate:
                return domain, await self.resolver.lookup(domain)

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(one(d)) for d in todo]
        for task in tasks:
            self.learn(*task.result(), now)
