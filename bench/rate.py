"""`make bench-rate`: is `app.message_rate` what the daemon achieves, with no burst above it?

Runs the real daemon in this process (SQLite, the real SMTP pool) against Postfix's smtp-sink at
BENCH_RATE messages/s (default 200) for BENCH_RATE_SECONDS (default 30), records the moment of
every send, and reports the achieved rate (its error against the setting, target within 2%) and
the most messages seen in any one-second window (target: no burst, i.e. no more than the rate
plus the same 2%: send starts are stamped after the task switch, whose jitter of a millisecond
or two can bring two neighbours closer than the limiter spaced them). Writes
bench/results/rate.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.sink import ensure_sink, free_port, running_sink
from campaignd.config import Settings
from campaignd.daemon.service import Daemon
from campaignd.domain import (
    CampaignStatus,
    ImportMode,
    ImportOptions,
    NewCampaign,
    NewSubscriber,
    OptIn,
    SendOutcome,
    SubscriptionStatus,
    utcnow,
)
from campaignd.messengers.protocol import Messenger, Sign
from campaignd.messengers.registry import build_messengers
from campaignd.store.sql import SqlStore, upgrade_schema

RESULTS = Path(__file__).parent / "results"


class Timed:
    """A messenger that notes when each send starts, then hands it on."""

    def __init__(self, inner: Messenger) -> None:
        self.inner = inner
        self.starts: list[float] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def servers(self) -> Sequence[str]:
        return self.inner.servers

    async def send(
        self, sender: str, recipients: Sequence[str], message: bytes, sign: Sign | None = None
    ) -> SendOutcome:
        self.starts.append(asyncio.get_running_loop().time())
        return await self.inner.send(sender, recipients, message, sign)

    async def close(self) -> None:
        await self.inner.close()


def max_in_window(times: list[float], window: float = 1.0) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def measure(rate: float, seconds: float, port: int, workdir: Path) -> dict[str, Any]:
    n = int(rate * seconds) + 1
    url = f"sqlite:///{workdir / 'rate.db'}"
    await upgrade_schema(url)
    store = await SqlStore.open(url)
    news = await store.create_list("rate", OptIn.SINGLE, "")
    rows = [NewSubscriber(f"r{i}@example.com", f"R {i}") for i in range(n)]
    for i in range(0, n, 1000):
        await store.import_batch(
            rows[i : i + 1000],
            ImportOptions(ImportMode.SUBSCRIBE, (news.id,), SubscriptionStatus.CONFIRMED),
        )
    campaign = await store.create_campaign(
        NewCampaign(
            name="rate",
            subject="Rate {{ subscriber.name }}",
            from_email="bench@example.com",
            body="<p>Hello {{ subscriber.name }}</p>",
            lists=("rate",),
        ),
        None,
    )
    await store.transition(
        campaign.id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=utcnow()
    )
    settings = Settings.model_validate(
        {
            "app": {"message_rate": rate, "concurrency": 20, "poll_interval": "100ms"},
            "security": {"secret": "rate-benchmark-secret-0123456789"},
            "smtp": [
                {
                    "host": "127.0.0.1",
                    "port": port,
                    "tls_type": "none",
                    "auth_protocol": "none",
                    "max_conns": 10,
                }
            ],
        }
    )
    timed = Timed(build_messengers(settings)["email"])
    await Daemon(
        settings, until_idle=True, store=store, messengers=lambda _s: {"email": timed}
    ).run()
    counts = await store.counts(campaign.id)
    await store.close()
    starts = sorted(timed.starts)
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    return {
        "rate_setting": rate,
        "messages": len(starts),
        "seconds": round(starts[-1] - starts[0], 3),
        "achieved_per_s": round(achieved, 2),
        "error_pct": round(100 * (achieved - rate) / rate, 2),
        "max_in_any_second": max_in_window(starts),
        "ledger_sent": counts.sent,
    }


def main() -> None:
    rate = float(os.environ.get("BENCH_RATE", "200"))
    seconds = float(os.environ.get("BENCH_RATE_SECONDS", "30"))
    binary = ensure_sink()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="campaignd-rate-") as tmp, running_sink(binary, port):
        result = asyncio.run(measure(rate, seconds, port, Path(tmp)))
    ok = abs(result["error_pct"]) <= 2.0 and result["max_in_any_second"] <= rate * 1.02 + 1
    result["within_target"] = ok
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rate.json").write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:>18}: {value}")
    if not ok:
        raise SystemExit("bench-rate: the achieved rate or its peak is off the setting by > 2%")


if __name__ == "__main__":
    main()
