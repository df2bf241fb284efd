"""An in-memory messenger that records what it is given and answers as scripted, for tests."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from campaignd.domain import OutcomeKind, SendOutcome
from campaignd.messengers.protocol import Sign


@dataclass(frozen=True, slots=True)
class Sent:
    sender: str
    recipients: tuple[str, ...]
    message: bytes


Script = Callable[[str, Sequence[str], bytes], SendOutcome]


class RecordingMessenger:
    """Satisfies campaignd.messengers.protocol.Messenger without a network.

    Every call to `send` is recorded in `calls`; messages whose outcome is SENT (or UNKNOWN,
    which may have been delivered) also land in `sent`. Outcomes come from, in order: the queue
    given to `script()`, the `answer` callable, else SENT. `delay` makes each send take that long.
    """

    def __init__(
        self,
        name: str = "email",
        servers: Sequence[str] = ("recording",),
        *,
        answer: Script | None = None,
        delay: float = 0.0,
    ) -> None:
        self._name = name
        self._servers = tuple(servers)
        self._answer = answer
        self._queue: deque[SendOutcome] = deque()
        self.delay = delay
        self.calls: list[Sent] = []
        self.sent: list[Sent] = []
        self.closed = False
        self.in_flight = 0
        self.peak_in_flight = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def servers(self) -> Sequence[str]:
        return self._servers

    def script(self, outcomes: Iterable[SendOutcome | OutcomeKind]) -> None:
        """Queue outcomes for the next sends (an OutcomeKind stands for a plain outcome of it)."""
        for o in outcomes:
            self._queue.append(o if isinstance(o, SendOutcome) else SendOutcome(o))

    async def send(
        self, sender: str, recipients: Sequence[str], message: bytes, sign: Sign | None = None
    ) -> SendOutcome:
        if self.closed:
            return SendOutcome(OutcomeKind.TRANSIENT, text="messenger closed", attempts=0)
        if not recipients:
            return SendOutcome(OutcomeKind.PERMANENT, text="no recipients", attempts=0)
        if sign is not None:
            message = sign(message)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            record = Sent(sender, tuple(recipients), message)
            self.calls.append(record)
            if self._queue:
                outcome = self._queue.popleft()
            elif self._answer is not None:
                outcome = self._answer(sender, recipients, message)
            else:
                outcome = SendOutcome(OutcomeKind.SENT, code=250, text="OK")
            if outcome.server is None:
                outcome = SendOutcome(
                    outcome.kind,
                    server=self._servers[0] if self._servers else None,
                    code=outcome.code,
                    enhanced=outcome.enhanced,
                    text=outcome.text,
                    attempts=outcome.attempts,
                    connection_error=outcome.connection_error,
                    auth_failed=outcome.auth_failed,
                )
            if outcome.kind in (OutcomeKind.SENT, OutcomeKind.UNKNOWN):
                self.sent.append(record)
            return outcome
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        self.closed = True
