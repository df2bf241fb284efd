"""Per-client request limits for the public form (a sliding window per client address)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection

from starlette.requests import Request

#: Sign-ups one client address may post per window, and the window in seconds.
SIGNUPS_PER_WINDOW = 10
SIGNUP_WINDOW = 600.0
#: Confirmation mails the form sends to one address per hour, whoever asks.
CONFIRMATIONS_PER_HOUR = 3
#: Clients remembered at once; the least recently seen are forgotten first.
MAX_CLIENTS = 10_000


class ClientLimiter:
    """At most `limit` hits per `window` seconds per client key."""

    def __init__(
        self,
        limit: int = SIGNUPS_PER_WINDOW,
        window: float = SIGNUP_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str) -> float:
        """Count a hit; return 0 when allowed, else the seconds until the next one is."""
        now = self._clock()
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        self._hits[key] = hits
        if len(self._hits) > MAX_CLIENTS:
            self._hits.popitem(last=False)
        if len(hits) >= self.limit:
            return max(1.0, hits[0] + self.window - now)
        hits.append(now)
        return 0.0


def client_key(request: Request, proxies: Collection[str]) -> str:
    """The client's address: the peer, or behind one of our `proxies` (http.proxy_addresses)
    the nearest X-Forwarded-For entry that is not one of them."""
    peer = request.client.host if request.client else ""
    if peer not in proxies:
        return peer
    forwarded = [
        part.strip()
        for value in request.headers.getlist("x-forwarded-for")
        for part in value.split(",")
    ]
    for hop in reversed(forwarded):
        if hop and hop not in proxies:
            return hop[:64]
    return peer
