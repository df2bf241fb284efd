"""Connection-level limits uvicorn lacks: request deadlines and a cap per client address.

uvicorn never times out a connection that has not sent a complete request (its keep-alive
timeout starts only after a response), so a few hundred idle or half-sent connections fill its
`limit_concurrency` and every later request gets 503. The protocol built here (uvicorn's h11
protocol, subclassed) closes a connection whose request headers are not complete within
`header_timeout` of its opening (or of the previous response), and whose body is not complete
`body_timeout` after its headers; and it closes at once any connection beyond
`max_per_client` open ones from the same address (addresses in `exempt`, the reverse proxy,
are not capped: the proxy carries many clients and enforces its own limits).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


@dataclass
class ConnectionGuard:
    """The limits, and the open connections per client address (shared by one server)."""

    header_timeout: float = 5.0
    body_timeout: float = 30.0
    max_per_client: int = 20  # 0: no cap
    exempt: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    open: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    timed_out: int = 0

    def protocol(self) -> type[asyncio.Protocol]:
        """The uvicorn protocol class (`uvicorn.Config(http=...)`) enforcing these limits."""
        guard = self

        class GuardedH11Protocol(_Guarded):
            _guard = guard

        return GuardedH11Protocol


class _Guarded(H11Protocol):
    _guard: ConnectionGuard
    _deadline: asyncio.TimerHandle | None = None
    _phase: str = ""
    _peer: str | None = None  # counted in guard.open while set

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        guard = self._guard
        peer = self._peer = self.client[0] if self.client else ""
        guard.open[peer] += 1
        if (
            guard.max_per_client
            and peer not in guard.exempt
            and guard.open[peer] > guard.max_per_client
        ):
            guard.refused += 1
            if guard.refused == 1 or guard.refused % 1000 == 0:
                log.warning(
                    "HTTP: a client has more than %d connections open; refusing more "
                    "(%d refused so far; http.max_connections_per_client)",
                    guard.max_per_client,
                    guard.refused,
                    extra={"action": "http.refused"},
                )
            transport.abort()
            return
        self._arm("headers", guard.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        peer, self._peer = self._peer, None
        if peer is not None:
            self._guard.open[peer] -= 1
            if self._guard.open[peer] <= 0:
                del self._guard.open[peer]
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        self._follow()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm("headers", self._guard.header_timeout)  # for the next request
        super().on_response_complete()
        self._follow()

    def _follow(self) -> None:
        """Move the deadline along with the request: headers, then body, then none."""
        state = self.conn.their_state
        if state is h11.IDLE:
            return  # still waiting for (the rest of) the request line and headers
        if state is h11.SEND_BODY:
            if self._phase != "body":
                self._arm("body", self._guard.body_timeout)
            return
        self._disarm()

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._phase = None, ""

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self._guard.timed_out += 1
        log.debug("HTTP: closing a connection whose request %s did not arrive in time", self._phase)
        self.transport.abort()
