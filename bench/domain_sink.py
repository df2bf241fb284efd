"""An SMTP sink for the pacing bench: answers one domain slowly and notes when each message came.

    python -m bench.domain_sink PORT DOMAIN DELAY_MS OUT.json

aiosmtpd on 127.0.0.1:PORT, in a process of its own so the daemon measured does not share its
CPU time. Stamps every message as its final "." arrives (time.monotonic, the same clock in
every process of the host), then answers those to DOMAIN after DELAY_MS (a slow receiving
domain) and the others at once. Prints "ready" when it listens; on SIGTERM writes
{"limited": [times], "others": [times]} to OUT.json and exits.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, domain: str, delay: float) -> None:
        self.suffix = "@" + domain
        self.delay = delay
        self.times: dict[str, list[float]] = {"limited": [], "others": []}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        if envelope.rcpt_tos[0].endswith(self.suffix):
            self.times["limited"].append(now)
            await asyncio.sleep(self.delay)
        else:
            self.times["others"].append(now)
        return "250 2.0.0 OK"


async def serve(port: int, domain: str, delay: float) -> dict[str, list[float]]:
    handler = Handler(domain, delay)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink", ident="bench-sink"), "127.0.0.1", port
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    return handler.times


def main() -> None:
    port, domain, delay_ms, out = sys.argv[1:5]
    times = asyncio.run(serve(int(port), domain, float(delay_ms) / 1000))
    Path(out).write_text(json.dumps(times), encoding="utf-8")


if __name__ == "__main__":
    main()
