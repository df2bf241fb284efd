"""Per-domain pacing: no head-of-line blocking, and the cost per message with and without it.

    python -m bench.pacing [--messages 20000]

In process, on the in-memory store and a recording messenger (no network), so the figures are
the engine's own. Two measurements:

1. Head-of-line: a campaign whose first 5% of recipients are on a domain that takes 50 ms per
   message and is limited to 2 in flight; the rest are on other domains. Prints when the other
   domains were done and when the slow one was, in seconds from the start.
2. Cost: CPU seconds per message for a campaign of `--messages` recipients, without
   [[domain_limits]] and with one configured (for a domain the campaign does not use, so every
   recipient goes through the paced path's lookup without waiting).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from campaignd.config import AppSettings, SecuritySettings, Settings
from campaignd.daemon.service import Daemon
from campaignd.domain import (
    CampaignStatus,
    NewCampaign,
    NewSubscriber,
    OptIn,
    SendOutcome,
    SubscriptionStatus,
    utcnow,
)
from campaignd.messengers.protocol import Sign
from campaignd.messengers.recording import RecordingMessenger
from campaignd.store.memory import MemoryStore

SLOW = "slow.example"


class Sink(RecordingMessenger):
    """Messages to SLOW take `slow_s`; notes when each domain's last message was answered."""

    def __init__(self, slow_s: float) -> None:
        super().__init__()
        self.slow_s = slow_s
        self.last: dict[bool, float] = {}

    async def send(
        self, sender: str, recipients: Sequence[str], message: bytes, sign: Sign | None = None
    ) -> SendOutcome:
        slow = recipients[0].endswith("@" + SLOW)
        if slow:
            await asyncio.sleep(self.slow_s)
        outcome = await super().send(sender, recipients, message, sign)
        self.last[slow] = time.monotonic()
        return outcome


def settings(limits: tuple[dict[str, Any], ...]) -> Settings:
    return Settings(
        app=AppSettings(message_rate=0, concurrency=20, batch_size=1000, poll_interval=0.05),
        security=SecuritySettings(secret=SecretStr("b" * 32)),
        domain_limits=limits,
    )


async def campaign(emails: Sequence[str]) -> MemoryStore:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "")
    for address in emails:
        await store.add_subscriber(
            NewSubscriber(address, ""), [news.id], SubscriptionStatus.CONFIRMED
        )
    created = await store.create_campaign(
        NewCampaign(name="b", subject="Hi", from_email="n@example.com", body="b", lists=("news",)),
        None,
    )
    await store.transition(
        created.id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=utcnow()
    )
    return store


async def head_of_line(total: int) -> None:
    slow = total // 20
    emails = [f"s{i}@{SLOW}" for i in range(slow)]
    emails += [f"f{i}@fast{i % 7}.example" for i in range(total - slow)]
    store, sink = await campaign(emails), Sink(0.05)
    cfg = settings(({"domains": [SLOW], "max_in_flight": 2},))
    started = time.monotonic()
    await Daemon(cfg, until_idle=True, store=store, messengers=lambda _s: {"email": sink}).run()
    print(
        f"head-of-line: {total - slow} messages to other domains done after "
        f"{sink.last[False] - started:.2f} s; {slow} to {SLOW} (2 in flight, 50 ms each) "
        f"after {sink.last[True] - started:.2f} s"
    )


async def cost(total: int, limits: tuple[dict[str, Any], ...], label: str) -> None:
    emails = [f"u{i}@d{i % 50}.example" for i in range(total)]
    store, sink = await campaign(emails), Sink(0.0)
    wall, cpu = time.monotonic(), time.process_time()
    await Daemon(
        settings(limits), until_idle=True, store=store, messengers=lambda _s: {"email": sink}
    ).run()
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    assert len(sink.sent) == total
    print(f"{label}: {cpu / total * 1e6:.0f} µs CPU/msg, {total / wall:,.0f} msg/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    asyncio.run(head_of_line(2_000))
    for _ in range(2):
        asyncio.run(cost(args.messages, (), "no [[domain_limits]]"))
        unused = ({"domains": ["unused.example"], "max_rate": 10.0},)
        asyncio.run(cost(args.messages, unused, "[[domain_limits]] set (unused)"))


if __name__ == "__main__":
    main()
