"""The sending engine: what every campaign runner of one daemon shares.

One ``Engine`` per daemon holds the in-flight slots (``concurrency``), the daemon-wide rate
limit and sliding window, the [[domain_limits]] pacer (campaignd.sending.pacing), the retry
policy, the ledger recorder and the send observers. One
``CampaignRunner`` (campaignd.sending.runner) per running campaign claims its rows in batches
and sends each through the campaign's messenger. Runners wait for slots in FIFO order, so
running campaigns share capacity fairly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from campaignd.config import AppSettings, DomainLimitSettings
from campaignd.domain import SendObserver, Tally, TrackingMode
from campaignd.messengers.mx import MxResolver
from campaignd.messengers.protocol import Messenger
from campaignd.policy import RetryPolicy
from campaignd.ratelimit import RateLimiter, SlidingWindow
from campaignd.rendering.dkim import DkimSigner
from campaignd.sending.pacing import DomainPacer
from campaignd.sending.recorder import Recorder
from campaignd.sending.waiting import Wakeup
from campaignd.store.protocol import Store

Clock = Callable[[], dt.datetime]

# The longest an outcome waits for others to share its ledger commit.
RECORD_LINGER_S = 0.01


@dataclass
class Engine:
    """What every campaign runner of one daemon shares."""

    store: Store
    app: AppSettings
    secret: str
    owner: str
    messengers: dict[str, Messenger]
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)
    return_path: str = ""  # [bounces] return_path: VERP envelope senders when set
    tracking: TrackingMode = TrackingMode.OFF  # [tracking] mode: bounds what campaigns track
    dkim: DkimSigner | None = None  # the [[dkim]] keys: messages From their domains are signed
    domain_limits: tuple[DomainLimitSettings, ...] = ()  # [[domain_limits]]: read at start
    mx_resolver: MxResolver | None = None  # for [[domain_limits]] entries with `mx` patterns
    pacer: DomainPacer | None = field(init=False, default=None)  # None: no [[domain_limits]]
    paced: Wakeup = field(init=False, default_factory=Wakeup)  # a paced message ended
    slots: asyncio.Semaphore = field(init=False)
    rate: RateLimiter = field(init=False)
    window: SlidingWindow | None = field(init=False)
    retry_policy: RetryPolicy = field(init=False)
    recorder: Recorder = field(init=False)
    tally: Tally = field(default_factory=Tally)
    in_flight: int = 0
    observers: list[SendObserver] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.app.concurrency)
        # Outcomes are committed in groups of a quarter of the slots (or after 10 ms): a commit
        # of one outcome costs nearly as much as one of 25 (see campaignd.sending.recorder).
        self.recorder = Recorder(
            self.store,
            self.slots,
            self.clock,
            group=max(1, self.app.concurrency // 4),
            linger=RECORD_LINGER_S,
        )
        self.apply_rates(self.app)
        if self.domain_limits:
            self.pacer = DomainPacer(self.domain_limits, self.mx_resolver)

    def apply_rates(self, app: AppSettings) -> None:
        """(Re)build the daemon-wide limits, e.g. after a settings reload."""
        self.app = app
        self.rate = RateLimiter(app.message_rate)
        self.window = (
            SlidingWindow(app.sliding_window_rate, app.sliding_window_duration)
            if app.sliding_window
            else None
        )
        self.retry_policy = RetryPolicy(app.max_attempts, app.retry_backoff)

    def claim_size(self) -> int:
        """Rows per claim: a batch, but no more than ~10 s of sending at the configured rate,
        so claims stay short-lived when several daemons share a database."""
        size = self.app.batch_size
        if self.app.message_rate:
            size = min(size, max(self.app.concurrency * 2, int(self.app.message_rate * 10)))
        return max(1, size)

    def claims_ahead(self) -> bool:
        """Claim the next batch while this one is sent? Only when a batch leaves within ~10 s
        (no message rate, or one that sends a whole claim in 10 s) and no sliding window can
        hold sending back: rows claimed far ahead are kept from other daemons sharing the
        database, and a slow campaign gains nothing from them."""
        if self.window is not None:
            return False
        rate = self.app.message_rate
        return not rate or self.claim_size() <= rate * 10
