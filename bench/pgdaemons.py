"""`python -m bench.pgdaemons`: one daemon against two on one PostgreSQL, alternated.

The PostgreSQL part of `make bench` alone (the same `Bench.send`), for looking into how two
daemons share one database: one import, then BENCH_ROUNDS (default 3) rounds of a campaign sent
by one daemon and another by two, back to back, each checked exactly once. BENCH_N (default
50,000), CAMPAIGND_BENCH_PG_URL or CAMPAIGND_TEST_PG_URL. BENCH_PG_WAITS=1 also samples
pg_stat_activity every 20 ms during each send and prints what the campaign's backends were
doing (state and wait event). Prints one line per send and writes bench/results/pgdaemons.json.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import ledger, workload
from bench.cpu import Meter
from bench.run import RESULTS, Bench
from bench.sink import ensure_sink, free_port, running_sink


class WaitSampler:
    """pg_stat_activity of one database every `every` seconds, in a thread, while running."""

    def __init__(self, url: str, every: float = 0.02) -> None:
        self.url = url
        self.every = every
        self.seen: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    async def _run(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        name = self.url.rsplit("/", 1)[1]
        try:
            while not self._stop.is_set():
                rows = await conn.fetch(
                    "SELECT state, wait_event_type, wait_event, left(query, 40) AS q"
                    " FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
                    " AND state <> 'idle'",
                    name,
                )
                self.samples += 1
                for r in rows:
                    what = f"{r['wait_event_type'] or 'CPU'}:{r['wait_event'] or '-'}"
                    query = " ".join(str(r["q"]).split())
                    self.seen[f"{what} | {query}"] += 1
                await asyncio.sleep(self.every)
        finally:
            await conn.close()

    def top(self, n: int = 12) -> list[tuple[str, float]]:
        """The most frequent (wait, query) pairs as backends busy per sample."""
        return [(k, round(v / max(self.samples, 1), 3)) for k, v in self.seen.most_common(n)]


async def _commits(url: str) -> int:
    """Transactions committed in the benchmark's database so far (pg_stat_database)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        value = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(value)
    finally:
        await conn.close()


def main() -> None:
    n = int(os.environ.get("BENCH_N", "50000"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    waits = os.environ.get("BENCH_PG_WAITS") == "1"
    pg_url = os.environ.get("CAMPAIGND_BENCH_PG_URL") or os.environ.get("CAMPAIGND_TEST_PG_URL")
    if not pg_url:
        raise SystemExit("bench: set CAMPAIGND_BENCH_PG_URL or CAMPAIGND_TEST_PG_URL")
    binary = ensure_sink()
    workdir = Path(tempfile.mkdtemp(prefix="campaignd-pgd-"))
    out: dict[str, Any] = {"n": n, "load_before": os.getloadavg(), "sends": []}
    try:
        port = free_port()
        workload.write_csv(workdir / "subscribers.csv", n)
        with running_sink(binary, port) as sink_pid, ledger.pg_database(pg_url) as url:
            bench = Bench(workdir, n, port, 100, Meter(sink_pid), min(n, 20_000))
            settings = workdir / "postgresql.toml"
            body, _ = bench.prepare("postgresql", url)
            for r in range(rounds):
                for daemons in (1, 2):
                    commits = asyncio.run(_commits(url))
                    sampler = WaitSampler(url) if waits else None
                    if sampler is not None:
                        sampler.__enter__()
                    try:
                        send = bench.send("postgresql", settings, url, body, 1, daemons)
                    finally:
                        if sampler is not None:
                            sampler.__exit__()
                    time.sleep(1.0)  # backends report their counts within a second
                    send["commits_per_1000"] = round(
                        (asyncio.run(_commits(url)) - commits) / n * 1000, 1
                    )
                    send["round"] = r + 1
                    send["load"] = os.getloadavg()[0]
                    if sampler is not None:
                        send["pg_activity"] = sampler.top()
                    out["sends"].append(send)
                    print(
                        f"round {r + 1} daemons {daemons}: {send['msgs_per_s']:,} msg/s"
                        f" (steady {send['steady_msgs_per_s']:,}), CPU {send['cpu_us_per_msg']}"
                        f" us/msg + PostgreSQL {send['server_cpu_us_per_msg']} us/msg,"
                        f" {send['machine_busy_cores']} cores busy"
                        f" ({send['stolen_cores']} stolen), sink {send['sink_cpu_us_per_msg']}"
                        f" us/msg, {send['commits_per_1000']} commits per 1,000 messages,"
                        f" load {send['load']:.2f}",
                        flush=True,
                    )
                    for key, per_sample in send.get("pg_activity", []):
                        print(f"    {per_sample:6.3f}  {key}")
    finally:
        if os.environ.get("BENCH_KEEP"):
            print(f"bench: kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sends = out["sends"]
    for r in range(rounds):
        one, two = sends[2 * r], sends[2 * r + 1]
        print(f"round {r + 1}: 2 daemons / 1 = {two['msgs_per_s'] / one['msgs_per_s']:.2f}")
    out["load_after"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pgdaemons.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"started {time.strftime('%H:%M:%S')}; load {out['load_before']} -> {out['load_after']}")


if __name__ == "__main__":
    main()
