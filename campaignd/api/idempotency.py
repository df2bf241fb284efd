"""Idempotent creates: a POST retried with the same Idempotency-Key gets the first answer again.

Answers are kept per token and key in the daemon's memory (the only process serving the API),
for a day and at most MAX_ENTRIES of them; a key reused with another request body is refused.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import Response

from campaignd.api.problems import problem

MAX_ENTRIES = 10_000
TTL = 86_400.0
MAX_KEY = 255


@dataclass(frozen=True, slots=True)
class _Answer:
    fingerprint: str
    status: int
    body: bytes
    media_type: str
    at: float


class IdempotencyCache:
    """Answers by (token name, key); one request per key at a time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._answers: OrderedDict[tuple[str, str], _Answer] = OrderedDict()
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    def _get(self, k: tuple[str, str]) -> _Answer | None:
        now = self._clock()
        while self._answers:  # oldest first: drop the expired
            first = next(iter(self._answers.values()))
            if now - first.at < TTL:
                break
            self._answers.popitem(last=False)
        return self._answers.get(k)

    async def run(
        self,
        token: str,
        key: str,
        fingerprint: str,
        produce: Callable[[], Awaitable[Response]],
    ) -> Response:
        """The stored answer for a repeat, 422 for a key reused with another request, else
        `produce()` (its answer kept unless it is a 5xx: that one may be retried)."""
        k = (token, key)
        lock, users = self._locks.get(k, (asyncio.Lock(), 0))
        self._locks[k] = (lock, users + 1)
        try:
            async with lock:
                answer = self._get(k)
                if answer is not None:
                    if answer.fingerprint != fingerprint:
                        return problem(
                            422,
                            "this Idempotency-Key was used with another request; use a new key",
                            errors=[{"field": "Idempotency-Key", "message": "reused"}],
                        )
                    return Response(
                        answer.body,
                        status_code=answer.status,
                        media_type=answer.media_type,
                        headers={"Idempotent-Replayed": "true"},
                    )
                response = await produce()
                if response.status_code < 500:
                    self._answers[k] = _Answer(
                        fingerprint,
                        response.status_code,
                        bytes(response.body),
                        response.media_type or "application/json",
                        self._clock(),
                    )
                    while len(self._answers) > MAX_ENTRIES:
                        self._answers.popitem(last=False)
                return response
        finally:
            lock, users = self._locks[k]
            if users <= 1:
                del self._locks[k]
            else:
                self._locks[k] = (lock, users - 1)
