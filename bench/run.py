"""`make bench`: import, send and raw-blast figures in one run against Postfix's smtp-sink.

Environment: BENCH_N (subscribers, default 200,000), BENCH_WORKERS (worker counts of the SQLite
send runs, default "1,2"), BENCH_CONCURRENCY (app.concurrency, default 100), BENCH_RAW_N (raw
blast messages, default min(N, 200,000)), BENCH_TRACK=0 (skip tracking: the 1-process SQLite
send with opens and clicks tracked, [tracking] mode BENCH_TRACK_MODE, default anonymous, run
right after the untracked one, and the hits/s of the tracking endpoints, bench.track_http, with
BENCH_TRACK_HITS hits, default 20,000, recorded in that mode and with tracking off),
BENCH_DKIM=rsa,ed25519 (also one-process SQLite sends with the campaign DKIM-signed by an
RSA-2048 / Ed25519 key, beside the unsigned one), CAMPAIGND_BENCH_PG_URL or
CAMPAIGND_TEST_PG_URL (also import and send on PostgreSQL, in a database of the benchmark's
own, with one and two daemons), BENCH_PACING=0 (skip the per-domain pacing figure,
bench.pacing_smtp: a limited domain's achieved rate and the other domains' msg/s with and
without the limit, ~10 s), BENCH_KEEP=1 (keep the work folder). Writes
bench/results/latest.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ledger, pacing_smtp, proc, track_http, workload
from bench.cpu import Meter
from bench.sink import ensure_sink, free_port, running_sink

RESULTS = Path(__file__).parent / "results"


class Bench:
    def __init__(
        self, workdir: Path, n: int, port: int, concurrency: int, meter: Meter, raw_n: int
    ) -> None:
        self.workdir = workdir
        self.meter = meter
        self.raw_n = raw_n
        self.raw_before: dict[str, Any] = {}
        self.n = n
        self.port = port
        self.concurrency = concurrency
        self.csv = workdir / "subscribers.csv"
        self.results: dict[str, Any] = {}

    def env(self, settings: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
        env["CAMPAIGND_CONFIG"] = str(settings)
        return env

    def cli(self, settings: Path, name: str, *args: str, timeout: float = 120) -> proc.Finished:
        return proc.run(self.workdir, name, ["campaignd", *args], self.env(settings), timeout)

    # -- one database ------------------------------------------------------------------------
    def backend(
        self,
        label: str,
        db_url: str,
        worker_counts: list[int],
        daemons: int = 1,
        dkim: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        settings = self.workdir / f"{label}.toml"
        body, imp = self.prepare(label, db_url)
        out: dict[str, Any] = {
            "import": {
                "rows": self.n,
                "seconds": round(imp.seconds, 2),
                "rows_per_s": round(self.n / imp.seconds),
                "peak_rss_mb": round(imp.peak_rss_mb, 1),
                "cpu_us_per_row": round(imp.cpu_seconds / self.n * 1e6, 1),
            }
        }
        tracked = label == "sqlite" and os.environ.get("BENCH_TRACK", "1") != "0"
        for workers in worker_counts:
            out[f"send_w{workers}"] = self.send(label, settings, db_url, body, workers)
            if tracked and workers == 1:  # right after the untracked one: the host drifts
                out["send_w1_tracked"] = self.send(label, settings, db_url, body, 1, tracked=True)
        if daemons > 1:  # that many daemons (one process each) on the same database
            out[f"send_d{daemons}"] = self.send(label, settings, db_url, body, 1, daemons)
        for kind in dkim:
            out[f"send_w1_dkim_{kind}"] = self.send(label, settings, db_url, body, 1, dkim=kind)
        return out

    def prepare(self, label: str, db_url: str) -> tuple[Path, proc.Finished]:
        """The schema, the list, the layout and the import (`<label>.toml` in the work folder);
        returns the campaign body's file and the import's run."""
        settings = self.workdir / f"{label}.toml"
        workload.write_settings(
            settings, db_url, self.port, workers=1, concurrency=self.concurrency
        )
        self.cli(settings, f"{label}-upgrade", "db", "upgrade")
        self.cli(settings, f"{label}-list", "lists", "create", "bench", "--optin", "single")
        layout = self.workdir / "layout.html"
        body = self.workdir / "body.html"
        layout.write_text(workload.LAYOUT, encoding="utf-8")
        body.write_text(workload.BODY, encoding="utf-8")
        self.cli(settings, f"{label}-layout", "templates", "add", "layout", "--file", str(layout))
        print(f"bench: importing {self.n:,} rows into {label} ...", flush=True)
        imp = self.cli(
            settings,
            f"{label}-import",
            "subscribers",
            "import",
            str(self.csv),
            "--list",
            "bench",
            "--json",
            timeout=max(600, self.n / 1000),
        )
        report = json.loads(imp.stdout)
        if report["inserted"] != self.n or report["errors"]:
            raise SystemExit(f"bench: import of {label} was not clean: {report}")
        return body, imp

    def dkim_key(self, kind: str) -> Path:
        """A fresh key of `kind` (rsa: RSA-2048, ed25519) in the work folder."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

        key = (
            rsa.generate_private_key(65537, 2048)
            if kind == "rsa"
            else ed25519.Ed25519PrivateKey.generate()
        )
        path = self.workdir / f"dkim-{kind}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        return path

    def send(
        self,
        label: str,
        settings: Path,
        db_url: str,
        body: Path,
        workers: int,
        daemons: int = 1,
        *,
        tracked: bool = False,
        dkim: str = "",
    ) -> dict[str, Any]:
        name = f"{label}-w{workers}" if daemons == 1 else f"{label}-d{daemons}"
        name += ("-tracked" if tracked else "") + (f"-dkim-{dkim}" if dkim else "")
        run_settings = self.workdir / f"{name}.toml"
        workload.write_settings(
            run_settings,
            db_url,
            self.port,
            workers=workers,
            concurrency=self.concurrency,
            dkim_key=self.dkim_key(dkim) if dkim else None,
        )
        track: tuple[str, ...] = ()
        if tracked:  # opens and clicks: the pixel and the body's link rewritten
            mode = os.environ.get("BENCH_TRACK_MODE", "anonymous")
            with run_settings.open("a", encoding="utf-8") as extra:
                extra.write(f'\n[tracking]\nmode = "{mode}"\n')
            track = ("--track", "opens,clicks")
        created = self.cli(
            settings,
            f"{name}-create",
            *("campaigns", "create", "--name", name, "--subject", workload.SUBJECT),
            *("--list", "bench", "--body-file", str(body), "--template", "layout"),
            *("--header", "X-Bench-Plan: {{ subscriber.attributes.plan }}"),
            *track,
        )
        campaign_id = int(created.stdout.strip())
        if not (self.workdir / "message.eml").exists():
            preview = self.cli(settings, "preview", "campaigns", "preview", str(campaign_id))
            (self.workdir / "message.eml").write_bytes(
                preview.stdout.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
            )
            # The ceiling before and after the sends: this machine's speed drifts over minutes
            # (a shared host), so the ratios use the mean of both and the table shows each.
            self.raw_before = self.raw(self.raw_n, "before")
        signed = f", DKIM {dkim}" if dkim else ""
        print(f"bench: sending {self.n:,} messages on {label} with {workers} worker(s){signed} ...")
        prefix: tuple[str, ...] = ()
        if os.environ.get("BENCH_PROFILE"):  # py-spy's folded stacks (the work folder is kept)
            out = self.workdir / f"profile-{name}.folded"
            spy = str(Path(sys.executable).with_name("py-spy"))
            prefix = (spy, "record", "--subprocesses", "--format", "raw", "-o", str(out), "--")
        children = []
        for d in range(daemons):
            env = self.env(run_settings)
            if daemons > 1:
                env["CAMPAIGND_APP__INSTANCE_ID"] = f"bench-d{d}"
            log_name = f"{name}-daemon" + (f"{d}" if daemons > 1 else "")
            children.append(proc.Child(self.workdir, log_name, ["campaignd", "run"], env, prefix))
        for child in children:
            child.wait_for_line("campaignd running", 60)
        time.sleep(0.2)
        started = dt.datetime.now(dt.UTC)
        self.meter.start()
        self.cli(settings, f"{name}-start", "campaigns", "start", str(campaign_id))
        # The daemon whose runner finds nothing left marks the campaign finished and says so;
        # with several, any one of them. (Polling the ledger's counts instead, as this did,
        # took a third of a core of PostgreSQL's during the two-daemon send alone.)
        proc.wait_for_any_line(children, f"campaign {campaign_id} finished", max(300, self.n / 500))
        machine = self.meter.stop(self.n)
        server = None if db_url.startswith("sqlite") else ledger.backend_cpu_seconds(db_url)
        for child in children:
            child.terminate()
        finished = [child.wait(120) for child in children]
        for result in finished:
            if result.code != 0:
                raise SystemExit(f"bench: a daemon exited with {result.code}; see {result.log}")
        result = finished[0]
        figures = ledger.figures(db_url, campaign_id)
        if figures["counts"] != {"sent": self.n}:
            raise SystemExit(f"bench: the ledger is not exact: {figures['counts']}")
        first, last = figures["first_sent"], figures["last_sent"]
        total = (last - started).total_seconds()
        sending = (last - first).total_seconds()
        return {
            "workers": workers,
            "daemons": daemons,
            "tracked": tracked,
            "dkim": dkim or "off",
            "messages": self.n,
            "seconds": round(total, 2),
            "msgs_per_s": round(self.n / total),
            "steady_msgs_per_s": round((self.n - 1) / sending) if sending > 0 else None,
            "first_message_s": round((first - started).total_seconds(), 2),
            "peak_rss_mb": round(max(r.peak_rss_mb for r in finished), 1),
            "total_rss_mb": round(sum(r.total_rss_mb for r in finished), 1),
            "cpu_us_per_msg": round(sum(r.cpu_seconds for r in finished) / self.n * 1e6, 1),
            # PostgreSQL's backends for this database (their start-up included), if local.
            "server_cpu_us_per_msg": None if server is None else round(server / self.n * 1e6, 1),
            **machine,
            "ledger": figures["counts"],
        }

    def raw(self, count: int, when: str) -> dict[str, Any]:
        print(f"bench: raw aiosmtplib blast of {count:,} messages ({when}) ...", flush=True)
        env = dict(os.environ)
        message = str(self.workdir / "message.eml")
        self.meter.start()
        result = proc.run(
            self.workdir,
            "raw",
            ["bench.raw", str(self.port), str(count), "10", message],
            env,
            timeout=max(300, count / 500),
        )
        machine = self.meter.stop(count)
        figures: dict[str, Any] = {**json.loads(result.stdout), **machine}
        figures["rate"] = round(figures["rate"])
        figures["seconds"] = round(figures["seconds"], 2)
        figures["cpu_us_per_msg"] = round(figures.pop("cpu_seconds") / count * 1e6, 1)
        return figures


def _machine(phase: dict[str, Any]) -> str:
    return (
        f"; machine {phase['machine_busy_cores']} cores busy"
        f" ({phase['stolen_cores']} stolen), sink {phase['sink_cpu_us_per_msg']} us/msg"
    )


def _table(results: dict[str, Any]) -> str:
    rows = [("figure", "value")]
    for label in ("sqlite", "postgresql"):
        data = results.get(label)
        if not data:
            continue
        imp = data["import"]
        rows.append(
            (
                f"{label}: import {imp['rows']:,} rows",
                f"{imp['rows_per_s']:,} rows/s ({imp['seconds']} s), "
                f"peak RSS {imp['peak_rss_mb']} MB, CPU {imp['cpu_us_per_row']} us/row",
            )
        )
        for key, send in data.items():
            if not key.startswith("send_"):
                continue
            rows.append(
                (
                    f"{label}: send, "
                    + (
                        f"{send['daemons']} daemons"
                        if send.get("daemons", 1) > 1
                        else f"{send['workers']} worker(s)"
                    )
                    + (", tracked" if send.get("tracked") else "")
                    + (f", DKIM {send['dkim']}" if send.get("dkim", "off") != "off" else ""),
                    f"{send['msgs_per_s']:,} msg/s start->last ({send['seconds']} s; steady "
                    f"{send['steady_msgs_per_s']:,}/s), first message {send['first_message_s']} s, "
                    f"peak RSS {send['peak_rss_mb']} MB, CPU {send['cpu_us_per_msg']} us/msg"
                    + (
                        f" (+ PostgreSQL {send['server_cpu_us_per_msg']})"
                        if send.get("server_cpu_us_per_msg") is not None
                        else ""
                    )
                    + _machine(send),
                )
            )
    for mode, hits in results.get("tracking_http", {}).items():
        rows.append(
            (
                f"tracking HTTP ({hits['loop']}), mode {mode}, {hits['hits']:,} hits",
                f"{hits['hits_per_s']:,} hits/s (open pixel + click redirect), server CPU "
                f"{hits['server_cpu_us_per_hit']} us/hit, {hits['written']:,} written",
            )
        )
    rows.extend(pacing_smtp.rows(results.get("pacing")))
    for key in ("raw_before", "raw_after"):
        raw = results[key]
        rows.append(
            (
                f"raw aiosmtplib ({raw['loop']}), 10 conns, {key.split('_')[1]}",
                f"{raw['rate']:,} msg/s ({raw['messages']:,} x {raw['bytes']} B), "
                f"CPU {raw['cpu_us_per_msg']} us/msg{_machine(raw)}",
            )
        )
    for key, value in results["ratios"].items():
        rows.append((key, f"{value:.2f}"))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


def main() -> None:
    n = int(os.environ.get("BENCH_N", "200000"))
    workers = [int(w) for w in os.environ.get("BENCH_WORKERS", "1,2").split(",") if w]
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "100"))
    raw_n = int(os.environ.get("BENCH_RAW_N", str(min(n, 200_000))))
    dkim = tuple(k for k in os.environ.get("BENCH_DKIM", "").split(",") if k)
    if any(k not in ("rsa", "ed25519") for k in dkim) or (dkim and 1 not in workers):
        raise SystemExit(
            "bench: BENCH_DKIM is a list of rsa, ed25519 (and needs 1 in BENCH_WORKERS)"
        )
    pg_url = os.environ.get("CAMPAIGND_BENCH_PG_URL") or os.environ.get("CAMPAIGND_TEST_PG_URL")
    binary = ensure_sink()
    workdir = Path(tempfile.mkdtemp(prefix="campaignd-bench-"))
    began = time.monotonic()
    load_before = os.getloadavg()
    results: dict[str, Any] = {
        "n": n,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "concurrency": concurrency,
        "max_conns": 10,
    }
    try:
        print(f"bench: writing {n:,} subscribers to {workdir / 'subscribers.csv'}", flush=True)
        port = free_port()
        workload.write_csv(workdir / "subscribers.csv", n)
        with running_sink(binary, port) as sink_pid:
            bench = Bench(workdir, n, port, concurrency, Meter(sink_pid), raw_n)
            results["sqlite"] = bench.backend(
                "sqlite", f"sqlite:///{workdir / 'bench.db'}", workers, dkim=dkim
            )
            if pg_url:
                with ledger.pg_database(pg_url) as url:
                    results["postgresql"] = bench.backend("postgresql", url, [1], daemons=2)
            results["raw_before"] = bench.raw_before
            results["raw_after"] = bench.raw(raw_n, "after")
        if os.environ.get("BENCH_TRACK", "1") != "0":
            hits = int(os.environ.get("BENCH_TRACK_HITS", "20000"))
            mode = os.environ.get("BENCH_TRACK_MODE", "anonymous")
            results["tracking_http"] = {
                m: track_http.measure(workdir, m, hits) for m in (mode, "off")
            }
        if os.environ.get("BENCH_PACING", "1") != "0":
            print("bench: per-domain pacing against a sink that delays one domain ...", flush=True)
            results["pacing"] = pacing_smtp.measure()
    finally:
        if os.environ.get("BENCH_KEEP") or os.environ.get("BENCH_PROFILE"):
            print(f"bench: kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    raw_rate = (results["raw_before"]["rate"] + results["raw_after"]["rate"]) / 2
    ratios: dict[str, float] = {}
    for label in ("sqlite", "postgresql"):
        for key, send in results.get(label, {}).items():
            if key.startswith("send_"):
                unit = (
                    f"{send['daemons']}d" if send.get("daemons", 1) > 1 else f"{send['workers']}w"
                )
                tracked = " tracked" if send.get("tracked") else ""
                ratios[f"{label} {unit}{tracked} / raw"] = send["msgs_per_s"] / raw_rate
    sends = results["sqlite"]
    for kind in dkim:
        signed, plain = sends[f"send_w1_dkim_{kind}"], sends["send_w1"]
        ratios[f"sqlite 1w DKIM {kind} / DKIM off"] = signed["msgs_per_s"] / plain["msgs_per_s"]
        ratios[f"sqlite 1w DKIM {kind} CPU/msg / DKIM off"] = (
            signed["cpu_us_per_msg"] / plain["cpu_us_per_msg"]
        )
    if "send_w1" in sends and "send_w2" in sends:
        ratios["sqlite 2 workers / 1 worker"] = (
            sends["send_w2"]["msgs_per_s"] / sends["send_w1"]["msgs_per_s"]
        )
    pg = results.get("postgresql", {})
    if "send_w1" in pg and "send_d2" in pg:
        ratios["postgresql 2 daemons / 1 daemon"] = (
            pg["send_d2"]["msgs_per_s"] / pg["send_w1"]["msgs_per_s"]
        )
    if "send_w1" in sends and "send_w1_tracked" in sends:
        tracked, plain = sends["send_w1_tracked"], sends["send_w1"]
        ratios["sqlite tracked / untracked (1 worker)"] = (
            tracked["msgs_per_s"] / plain["msgs_per_s"]
        )
        ratios["sqlite tracked / untracked CPU/msg"] = (
            tracked["cpu_us_per_msg"] / plain["cpu_us_per_msg"]
        )
    http = results.get("tracking_http", {})
    if len(http) == 2:
        recorded, off = http.values()
        ratios["tracking HTTP recorded / off (hits/s)"] = recorded["hits_per_s"] / off["hits_per_s"]
    ratios.update(pacing_smtp.ratios(results.get("pacing")))
    results["ratios"] = {k: round(v, 3) for k, v in ratios.items()}
    results["load"] = {"before": load_before, "after": os.getloadavg()}
    results["seconds"] = round(time.monotonic() - began, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    print(_table(results))
    print(
        f"\nload average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
        f"{results['seconds']} s in all; written to {RESULTS / 'latest.json'}"
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
    except subprocess.CalledProcessError as exc:
        sys.exit(f"bench: {exc}")
