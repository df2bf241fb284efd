"""The ceiling: pre-built message bytes blasted with aiosmtplib over N connections.

Run as ``python -m bench.raw PORT COUNT CONNS MESSAGE_FILE``; prints one JSON object. It uses
uvloop when installed, like ``campaignd run``, so the comparison is on the same event loop.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path

import aiosmtplib


async def _blast(port: int, count: int, conns: int, message: bytes) -> dict[str, float]:
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) for _ in range(conns)]
    await asyncio.gather(*(c.connect() for c in clients))
    share = [count // conns + (1 if i < count % conns else 0) for i in range(conns)]
    first: list[float] = []
    start = time.perf_counter()

    async def one(client: aiosmtplib.SMTP, n: int, k: int) -> None:
        for i in range(n):
            await client.sendmail("news@example.com", [f"user{k}.{i}@bench.example.com"], message)
            if not first:
                first.append(time.perf_counter())

    await asyncio.gather(
        *(one(c, n, k) for k, (c, n) in enumerate(zip(clients, share, strict=True)))
    )
    seconds = time.perf_counter() - start
    await asyncio.gather(*(c.quit() for c in clients))
    return {"messages": count, "seconds": seconds, "rate": count / seconds}


def main() -> None:
    port, count, conns = (int(a) for a in sys.argv[1:4])
    message = Path(sys.argv[4]).read_bytes()
    coro = _blast(port, count, conns, message)
    try:
        import uvloop
    except ImportError:
        loop = "asyncio"
        result = asyncio.run(coro)
    else:
        loop = "uvloop"
        result = uvloop.run(coro)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({**result, "loop": loop, "bytes": len(message), "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
