"""`make bench`'s per-domain pacing figure: a limited domain's achieved rate, and the other
domains' throughput with the limit and without it, through real SMTP.

    python -m bench.pacing_smtp

The daemon runs in this process (in-memory store, the real SMTP pool, app.message_rate off)
against bench.domain_sink in a process of its own, which answers the limited domain 20 ms late
(a slow receiver) and stamps every message as it arrives. One campaign of OTHERS messages to 20
other domains with LIMITED messages to the limited domain mixed in (one in eleven), sent twice:
without [[domain_limits]], then with `max_rate = RATE` for that domain. Reported: the limited
domain's rate on the sink from its fourth message to its last (past the bucket's initial
burst), against RATE; the other domains' messages a second, from the first message of the run
to their last, in both runs: a drop with the limit on would be head-of-line blocking.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.pacing import campaign
from bench.sink import free_port
from campaignd.config import AppSettings, SecuritySettings, Settings, SmtpSettings
from campaignd.daemon.service import Daemon

LIMITED_DOMAIN = "limited.example"
RATE = 100.0
LIMITED = 301  # 3 s at RATE
OTHERS = 3_000
DELAY_MS = 20
SKIP = 3  # past the bucket's burst of 1 + RATE / 100 messages


def audience() -> list[str]:
    emails = []
    for i in range(LIMITED + OTHERS):
        if i % 11 == 0 and i // 11 < LIMITED:
            emails.append(f"l{i}@{LIMITED_DOMAIN}")
        else:
            emails.append(f"o{i}@other{i % 20}.example")
    return emails


def settings(port: int, limited: bool) -> Settings:
    limits = ({"domains": [LIMITED_DOMAIN], "max_rate": RATE},) if limited else ()
    return Settings(
        app=AppSettings(
            message_rate=0,
            concurrency=50,
            batch_size=1000,
            poll_interval=0.05,
            from_email="News <news@example.com>",
        ),
        security=SecuritySettings(secret=SecretStr("p" * 32)),
        smtp=(
            SmtpSettings(
                host="127.0.0.1",
                port=port,
                tls_type="none",  # type: ignore[arg-type]
                auth_protocol="none",  # type: ignore[arg-type]
                max_conns=10,
            ),
        ),
        domain_limits=limits,
    )


async def send(port: int, limited: bool) -> None:
    store = await campaign(audience())
    code = await Daemon(settings(port, limited), until_idle=True, store=store).run()
    if code != 0:
        raise SystemExit(f"bench: the pacing daemon exited with {code}")


def one_run(workdir: Path, limited: bool) -> dict[str, list[float]]:
    """Send the campaign once against a fresh sink; the sink's arrival times."""
    port, out = free_port(), workdir / f"pacing-{int(limited)}.json"
    args = [str(port), LIMITED_DOMAIN, str(DELAY_MS), str(out)]
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.domain_sink", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        if sink.stdout.readline().strip() != "ready":
            raise SystemExit("bench: the pacing sink did not start")
        asyncio.run(send(port, limited))
    finally:
        sink.terminate()
        sink.wait(30)
    times: dict[str, list[float]] = json.loads(out.read_text(encoding="utf-8"))
    if (len(times["limited"]), len(times["others"])) != (LIMITED, OTHERS):
        raise SystemExit(f"bench: the pacing sink counted {times}")
    return times


def others_rate(times: dict[str, list[float]]) -> float:
    start = min(times["limited"][0], times["others"][0])
    return OTHERS / (times["others"][-1] - start)


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="campaignd-pacing-") as tmp:
        free = one_run(Path(tmp), limited=False)
        paced = one_run(Path(tmp), limited=True)
    steady = sorted(paced["limited"])[SKIP:]
    achieved = (len(steady) - 1) / (steady[-1] - steady[0])
    return {
        "rate": RATE,
        "limited_messages": LIMITED,
        "other_messages": OTHERS,
        "slow_reply_ms": DELAY_MS,
        "achieved_rate": round(achieved, 2),
        "achieved_over_rate": round(achieved / RATE, 4),
        "others_msgs_per_s_limit_off": round(others_rate(free)),
        "others_msgs_per_s_limit_on": round(others_rate(paced)),
        "others_done_s_limit_on": round(
            paced["others"][-1] - min(paced["limited"][0], paced["others"][0]), 2
        ),
        "limited_done_s_limit_on": round(
            paced["limited"][-1] - min(paced["limited"][0], paced["others"][0]), 2
        ),
    }


def rows(pacing: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The lines of `make bench`'s table (none when the figure was skipped)."""
    if not pacing:
        return []
    return [
        (
            f"pacing: {pacing['limited_messages']} to a domain limited to {pacing['rate']:g}/s",
            f"{pacing['achieved_rate']}/s achieved (4th to last message), all in after "
            f"{pacing['limited_done_s_limit_on']} s",
        ),
        (
            f"pacing: {pacing['other_messages']:,} to 20 other domains",
            f"{pacing['others_msgs_per_s_limit_on']:,} msg/s with the limit (all in after "
            f"{pacing['others_done_s_limit_on']} s), "
            f"{pacing['others_msgs_per_s_limit_off']:,} msg/s without",
        ),
    ]


def ratios(pacing: dict[str, Any] | None) -> dict[str, float]:
    if not pacing:
        return {}
    return {
        "pacing: limited domain achieved / max_rate": pacing["achieved_over_rate"],
        "pacing: other domains msg/s, limit on / off": (
            pacing["others_msgs_per_s_limit_on"] / pacing["others_msgs_per_s_limit_off"]
        ),
    }


def main() -> None:
    began = time.monotonic()
    figures = measure()
    print(json.dumps(figures, indent=2))
    for label, value in rows(figures):
        print(f"{label}  {value}")
    print(f"{time.monotonic() - began:.1f} s")


if __name__ == "__main__":
    main()
