"""Pure back-off state of one SMTP server: set aside after connection failures, probed again."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Health:
    """Exponential back-off with a single probe once the back-off has elapsed.

    Time comes in as an argument (`now`, monotonic seconds) so the policy tests without sleeping.
    """

    base: float = 1.0
    cap: float = 60.0
    failures: int = 0
    down_until: float = 0.0
    probing: bool = False
    reason: str = ""
    auth_failed: bool = False  # set aside because the server refused our credentials

    @property
    def down(self) -> bool:
        return self.failures > 0

    def admit(self, now: float) -> bool:
        """May a send use this server now? While down, one probe at a time after the back-off."""
        if not self.failures:
            return True
        if now < self.down_until or self.probing:
            return False
        self.probing = True
        return True

    def failed(self, now: float, reason: str, auth_failed: bool = False) -> float | None:
        """Record a connection-level failure; return the back-off if this starts a new one."""
        self.probing = False
        self.reason = reason
        self.auth_failed = auth_failed
        if self.failures and now < self.down_until:
            return None  # already set aside: concurrent failures count once
        self.failures += 1
        delay = min(self.cap, self.base * float(2 ** min(self.failures - 1, 30)))
        self.down_until = now + delay
        return delay

    def succeeded(self) -> int:
        """Record a working connection; return how many failures it ends (0 if none)."""
        failures = self.failures
        self.failures = 0
        self.down_until = 0.0
        self.probing = False
        self.reason = ""
        self.auth_failed = False
        return failures

    def release(self) -> None:
        """A probe ended without telling either way (cancelled, or no connection was needed)."""
        self.probing = False
