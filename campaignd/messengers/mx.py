"""MX look-ups for [[domain_limits]] `mx` grouping: the resolver seam, dnspython, and a twin.

``MxResolver.lookup`` answers a domain's most preferred MX hosts (lower-case ASCII, no trailing
dot) and how long the answer may be kept; it never raises for DNS trouble: a name without MX
records answers no hosts for ``NEGATIVE_TTL``, a failure or timeout no hosts for
``FAILED_TTL``. ``DnsMxResolver`` asks the system's resolvers through dnspython's asyncio
resolver (no thread, nothing blocks the event loop) with a deadline; ``StaticMxResolver`` is its
in-memory twin for tests. dnspython lives here only. Callers cache the answers
(campaignd.sending.mxgroups): one look-up per distinct domain, not per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

#: Seconds one look-up may take (all retries and servers together).
LOOKUP_TIMEOUT = 3.0
#: Keep "this domain has no MX records" (NXDOMAIN, no answer) this long.
NEGATIVE_TTL = 300.0
#: Keep a failed look-up (timeout, SERVFAIL, no resolver) this long before asking again.
FAILED_TTL = 60.0


@dataclass(frozen=True, slots=True)
class MxAnswer:
    """A domain's most preferred MX hosts (empty: none known) and seconds to keep them."""

    hosts: tuple[str, ...]
    ttl: float


class MxResolver(Protocol):
    async def lookup(self, domain: str) -> MxAnswer: ...


def preferred(records: Sequence[tuple[int, str]]) -> tuple[str, ...]:
    """The hosts of the lowest preference, lower-cased, without the trailing dot; a null MX
    (RFC 7505: ``0 .``, the domain takes no mail) gives none."""
    if not records:
        return ()
    best = min(pref for pref, _ in records)
    hosts = (host.lower().rstrip(".") for pref, host in records if pref == best)
    return tuple(sorted({h for h in hosts if h}))


class DnsMxResolver:
    """MX look-ups through dnspython's asyncio resolver (the system's /etc/resolv.conf)."""

    def __init__(self, timeout: float = LOOKUP_TIMEOUT) -> None:
        import dns.asyncresolver  # the daemon imports this only when an entry has `mx`

        self.timeout = timeout
        self._resolver = dns.asyncresolver.Resolver()

    async def lookup(self, domain: str) -> MxAnswer:
        import dns.exception
        import dns.resolver

        try:
            answer = await self._resolver.resolve(domain, "MX", lifetime=self.timeout, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return MxAnswer((), NEGATIVE_TTL)
        except (dns.exception.DNSException, OSError, UnicodeError, ValueError) as exc:
            log.debug(
                "MX look-up of %s failed: %s", domain, exc, extra={"action": "pacing.mx_failed"}
            )
            return MxAnswer((), FAILED_TTL)
        records = [(int(r.preference), r.exchange.to_text()) for r in answer]
        ttl = answer.rrset.ttl if answer.rrset is not None else NEGATIVE_TTL
        return MxAnswer(preferred(records), float(ttl))


class StaticMxResolver:
    """The twin: answers from a mapping (domain -> MX hosts), after `delay` seconds; domains
    not in it have no MX records, those in `failing` fail. Counts the look-ups asked."""

    def __init__(
        self,
        hosts: Mapping[str, Sequence[str]],
        *,
        ttl: float = 3600.0,
        delay: float = 0.0,
        failing: frozenset[str] = frozenset(),
    ) -> None:
        self.hosts = dict(hosts)
        self.ttl = ttl
        self.delay = delay
        self.failing = failing
        self.asked: list[str] = []

    async def lookup(self, domain: str) -> MxAnswer:
        self.asked.append(domain)
        if self.delay:
            await asyncio.sleep(self.delay)
        if domain in self.failing:
            return MxAnswer((), FAILED_TTL)
        found = self.hosts.get(domain)
        if found is None:
            return MxAnswer((), NEGATIVE_TTL)
        return MxAnswer(preferred([(10, h) for h in found]), self.ttl)
