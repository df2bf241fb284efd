"""`python -m bench.limiter`: how closely the rate limiter keeps its rate, in-process.

For each rate, 20 tasks acquire in a loop for a few seconds (no SMTP, no database) on asyncio's
loop and on uvloop (the one `campaignd run` uses, whose timers tick in milliseconds). Compares
campaignd's `RateLimiter` (aiolimiter with a bucket of 1 + rate/100) with aiolimiter sized
`max(1, rate/100)`, whose bucket is a single message below 100/s. Prints the achieved rate's
error against the setting, the most acquisitions in any one-second window and how many went in
the first 10 ms. BENCH_LIMITER_RATES (default 10,50,150,200,1000,5000) picks the rates.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter

from bench.rate import max_in_window
from campaignd.ratelimit import RateLimiter

Acquire = Callable[[], Awaitable[Any]]


def limiters(rate: float) -> dict[str, Acquire]:
    bare = max(1.0, rate / 100)
    return {
        "campaignd RateLimiter": RateLimiter(rate).acquire,
        "aiolimiter max(1, r/100)": AsyncLimiter(bare, bare / rate).acquire,
    }


async def measure(acquire: Acquire, rate: float, seconds: float) -> str:
    loop = asyncio.get_running_loop()
    n = int(rate * seconds) + 1
    starts: list[float] = []

    async def worker() -> None:
        while len(starts) < n:
            await acquire()
            starts.append(loop.time())
            await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(20)))
    starts = starts[:n]
    achieved = (n - 1) / (starts[-1] - starts[0])
    first = sum(1 for t in starts if t - starts[0] < 0.01)
    return (
        f"{100 * (achieved - rate) / rate:+6.2f}%  max in 1 s {max_in_window(starts):5}"
        f"  first 10 ms {first:3}"
    )


async def run_all(loop_name: str, rates: list[float]) -> None:
    for rate in rates:
        seconds = max(3.0, min(10.0, 100 / rate))
        for name, acquire in limiters(rate).items():
            line = await measure(acquire, rate, seconds)
            print(f"{loop_name:8} {rate:6g}/s  {name:26} {line}", flush=True)


def run(loop_name: str, coro: Coroutine[Any, Any, None]) -> None:
    if loop_name == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


def main() -> None:
    rates = [
        float(r)
        for r in os.environ.get("BENCH_LIMITER_RATES", "10,50,150,200,1000,5000").split(",")
    ]
    for loop_name in ("asyncio", "uvloop"):
        run(loop_name, run_all(loop_name, rates))


if __name__ == "__main__":
    main()
