"""Hits per second on the tracking endpoint: `python -m bench.track_http`.

The daemon's HTTP server (uvicorn, the app of campaignd.http.app) on a SQLite store with the
HitRecorder flushing as in the daemon; a client process keeps TRACK_CONNS (default 20) HTTP/1.1
connections busy fetching open pixels and click redirects (half each) until TRACK_HITS (default
20,000) are answered. Prints hits/s, the server's CPU per hit, and checks that every hit was
written (one transaction per flush, never one per hit). TRACK_MODE=off gives the same requests
with nothing recorded, for comparison (individual: per-subscriber rows too). `make bench` runs
it twice through `measure` (bench/run.py: BENCH_TRACK_HITS, BENCH_TRACK_MODE).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from campaignd.campaigns.hits import HitRecorder
from campaignd.config import HttpSettings, SecuritySettings, Settings, TrackingSettings
from campaignd.devtools.devsmtp import free_port
from campaignd.domain import HitKind, TrackingMode
from campaignd.http.app import create_app
from campaignd.http.server import HttpServer
from campaignd.rendering.tracking import TrackTokens
from campaignd.store.sql import SqlStore, upgrade_schema

HITS = int(os.environ.get("TRACK_HITS", "20000"))
CONNS = int(os.environ.get("TRACK_CONNS", "20"))
MODE = TrackingMode(os.environ.get("TRACK_MODE", "anonymous"))
SECRET = "bench-secret-0123456789abcdef"

CLIENT = r"""
import asyncio, json, sys, time
port, conns, hits, paths = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]

async def worker(n, out):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(n):
        path = paths[i % len(paths)]
        writer.write(f"GET {path} HTTP/1.1\r\nHost: b\r\nUser-Agent: Bench/1\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        out[head[9:12].decode()] = out.get(head[9:12].decode(), 0) + 1
    writer.close()

async def main():
    out = {}
    start = time.perf_counter()
    await asyncio.gather(*(worker(hits // conns, out) for _ in range(conns)))
    print(json.dumps({"seconds": time.perf_counter() - start, "status": out}))

asyncio.run(main())
"""


async def bench(workdir: Path) -> dict[str, object]:
    url = f"sqlite:///{workdir / 't.db'}"
    await upgrade_schema(url)
    store = await SqlStore.open(url)
    port = free_port()
    settings = Settings(
        security=SecuritySettings(secret=SecretStr(SECRET)),
        http=HttpSettings(listen=f"127.0.0.1:{port}", max_connections_per_client=0),
        tracking=TrackingSettings(mode=MODE, machine_window=0),
    )
    hits = HitRecorder(store, settings.tracking)
    server = HttpServer(create_app(store, settings, hits=hits), settings.http.listen)
    server.bind()
    flusher = asyncio.create_task(hits.run())
    server.start()
    tokens = TrackTokens(SECRET)
    built = int(time.time()) - 3600
    who = 42 if MODE is TrackingMode.INDIVIDUAL else None
    paths = [f"/t/o/{tokens.sign(HitKind.OPEN, 1, built, who)}"] + [
        f"/t/c/{tokens.sign(HitKind.CLICK, 1, built, who, f'https://example.com/{i}')}"
        for i in range(3)
    ]
    paths = [paths[0], paths[1], paths[0], paths[2], paths[0], paths[3]]
    cpu = time.process_time()
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, str(port), str(CONNS), str(HITS), *paths,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    out, _ = await client.communicate()
    cpu = time.process_time() - cpu
    await server.stop()
    await hits.close()
    await flusher
    figures = json.loads(out)
    answered = sum(figures["status"].values())
    written = sum(c.hits for c in await store.hit_counts(1))
    await store.close()
    return {
        "mode": MODE.value,
        "hits": answered,
        "status": figures["status"],
        "hits_per_s": round(answered / figures["seconds"]),
        "server_cpu_us_per_hit": round(cpu / answered * 1e6, 1),
        "written": written,
        "flushes_lost": hits.dropped,
    }


def measure(workdir: Path, mode: str, hits: int) -> dict[str, Any]:
    """This benchmark in a child process (for `make bench`): its figures, the child's CPU."""
    from bench import proc

    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    env.update(TRACK_MODE=mode, TRACK_HITS=str(hits), TRACK_CONNS=str(CONNS))
    print(f"bench: {hits:,} tracking hits over HTTP, [tracking] mode {mode} ...", flush=True)
    done = proc.run(workdir, f"track-http-{mode}", ["bench.track_http"], env, max(120, hits / 100))
    figures: dict[str, Any] = json.loads(done.stdout)
    figures["peak_rss_mb"] = round(done.peak_rss_mb, 1)
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="campaignd-track-") as tmp:
        # On the daemon's loop: uvloop when installed (campaignd.cli.run), TRACK_LOOP=asyncio
        # to compare.
        if os.environ.get("TRACK_LOOP") != "asyncio" and importlib.util.find_spec("uvloop"):
            import uvloop

            result = {"loop": "uvloop", **uvloop.run(bench(Path(tmp)))}
        else:
            result = {"loop": "asyncio", **asyncio.run(bench(Path(tmp)))}
    print(json.dumps(result, indent=2))
    if MODE is not TrackingMode.OFF and result["written"] != result["hits"]:
        raise SystemExit("bench: not every hit was written")


if __name__ == "__main__":
    main()
