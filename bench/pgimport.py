"""The PostgreSQL import alone: the bench's file into a fresh database, with the server's CPU.

    CAMPAIGND_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test python -m bench.pgimport

BENCH_N rows (default 1,000,000), the same CSV as `make bench` (kept in BENCH_CSV_DIR, default
campaignd-bench-csv in the temporary directory, and reused). Prints rows/s, the CLI's peak RSS
and CPU per row, and the CPU per row of the import's server backends (their /proc stat, sampled
while they run): where the two cores went. BENCH_RUNS repeats it, each into a fresh database.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import ledger, proc, workload

_TICK = os.sysconf("SC_CLK_TCK")


def _backend_cpu(dbname: str) -> dict[int, float]:
    """CPU seconds of each server process serving `dbname` (its process title names it)."""
    out: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read()
            if not title.startswith(b"postgres: ") or f" {dbname} ".encode() not in title:
                continue
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            out[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


class _ServerMeter:
    """The largest CPU time seen per backend of one database, polled in a thread."""

    def __init__(self, dbname: str) -> None:
        self._dbname = dbname
        self._seen: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.is_set():
            for pid, cpu in _backend_cpu(self._dbname).items():
                self._seen[pid] = max(cpu, self._seen.get(pid, 0.0))
            self._done.wait(0.05)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return sum(self._seen.values())


def run_once(csv: Path, base_url: str, n: int, workdir: Path) -> dict[str, Any]:
    with ledger.pg_database(base_url) as url:
        settings = workdir / "pg.toml"
        workload.write_settings(settings, url, 2525, workers=1, concurrency=10)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
        env["CAMPAIGND_CONFIG"] = str(settings)
        proc.run(workdir, "upgrade", ["campaignd", "db", "upgrade"], env, 120)
        proc.run(workdir, "list", ["campaignd", "lists", "create", "bench"], env, 60)
        meter = _ServerMeter(url.rpartition("/")[2])
        args = ["campaignd", "subscribers", "import", str(csv), "--list", "bench", "--json"]
        load = os.getloadavg()[0]
        imp = proc.run(workdir, "import", args, env, max(600, n / 1000))
        server = meter.stop()
        report = json.loads(imp.stdout)
        if report["inserted"] != n or report["errors"]:
            raise SystemExit(f"bench: import was not clean: {report}")
        return {
            "rows": n,
            "seconds": round(imp.seconds, 2),
            "rows_per_s": round(n / imp.seconds),
            "peak_rss_mb": round(imp.peak_rss_mb, 1),
            "client_cpu_us_per_row": round(imp.cpu_seconds / n * 1e6, 2),
            "server_cpu_us_per_row": round(server / n * 1e6, 2),
            "load_before": load,
        }


def main() -> None:
    n = int(os.environ.get("BENCH_N", "1000000"))
    runs = int(os.environ.get("BENCH_RUNS", "1"))
    base = os.environ.get("CAMPAIGND_BENCH_PG_URL") or os.environ.get("CAMPAIGND_TEST_PG_URL")
    if not base:
        raise SystemExit("bench: set CAMPAIGND_BENCH_PG_URL (or CAMPAIGND_TEST_PG_URL)")
    default = Path(tempfile.gettempdir()) / "campaignd-bench-csv"
    folder = Path(os.environ.get("BENCH_CSV_DIR", default))
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"subscribers-{n}.csv"
    if not csv.exists():
        print(f"bench: writing {n:,} subscribers to {csv}", file=sys.stderr, flush=True)
        workload.write_csv(csv, n)
    for _ in range(runs):
        print(json.dumps(run_once(csv, base, n, folder)), flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
