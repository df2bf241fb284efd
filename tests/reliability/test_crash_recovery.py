"""Crashes: `campaignd run` killed at random points (SIGKILL) or stopped (SIGTERM), restarted.

Promise under test (README, delivery guarantee): every eligible subscriber gets the campaign;
after a kill -9 at most `app.concurrency` recipients can have been delivered without the ledger
knowing (so duplicates per crash <= concurrency); a graceful stop sends no duplicate; the
ledger matches what the SMTP sink accepted.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import Measurement
from tests.reliability.harness import Deployment, SinkProcess, ledger, wait_for

pytestmark = pytest.mark.slow

RECIPIENTS = 5000
CONCURRENCY = 10
STOPS = 5


def _deploy(tmp_path: Path, sink: SinkProcess) -> Deployment:
    dep = Deployment(tmp_path, f"sqlite:///{tmp_path / 'campaignd.db'}")
    dep.write(
        app={
            "message_rate": 2500,
            "concurrency": CONCURRENCY,
            "batch_size": 500,
            "shutdown_grace": "30s",
        },
        smtp=[{"port": sink.port, "max_conns": CONCURRENCY}],
    )
    return dep


def _rng() -> tuple[random.Random, int]:
    seed = int(os.environ.get("CAMPAIGND_CRASH_SEED", "0")) or random.randrange(1, 1 << 30)
    return random.Random(seed), seed


def _restart(
    dep: Deployment, sink: SinkProcess, before: int
) -> tuple[subprocess.Popen[str], float]:
    """Start the daemon; return it and the seconds until the sink got a new message."""
    started = time.monotonic()
    proc = dep.daemon()
    assert wait_for(lambda: sink.count() > before, 60), "no message after a restart"
    return proc, time.monotonic() - started


def _thresholds(rng: random.Random) -> list[int]:
    """One random stopping point in each of STOPS equal slices of the first ~90% of the run."""
    span = int(RECIPIENTS * 0.9) // STOPS
    return [k * span + rng.randrange(span // 4, span) for k in range(STOPS)]


def test_sigkill_at_random_points_loses_nothing_and_bounds_duplicates(
    tmp_path: Path, measure: Measurement
) -> None:
    rng, seed = _rng()
    with SinkProcess(tmp_path / "received.txt") as sink, _deploy(tmp_path, sink) as dep:
        campaign_id, eligible = dep.seed(RECIPIENTS)
        in_doubt: list[set[str]] = []
        recover: list[float] = []
        # One kill during start-up (before or while the first batch is claimed), then kills
        # while sending, at random message counts.
        proc = dep.daemon()
        time.sleep(rng.uniform(0.2, 1.0))
        points = _thresholds(rng)
        kills = 0
        for target in [None, *points]:
            if target is not None:
                assert wait_for(lambda t=target: sink.count() >= t, 60), "stalled before a kill"
                time.sleep(rng.uniform(0, 0.05))
            proc.kill()
            proc.wait(timeout=10)
            kills += 1
            # The daemon's last messages may still sit in the kernel's buffers: count them
            # before deciding which recipients were in doubt at this kill.
            assert sink.settled(), "the sink still has the killed daemon's connections open"
            received = sink.received()
            sent = {e for e, s in ledger(dep.db_url, campaign_id).items() if s == "sent"}
            doubt = set(received) - sent
            # Only messages in flight at the kill can be delivered without the ledger knowing.
            assert len(doubt) <= CONCURRENCY, (kills, len(doubt))
            assert sent <= set(received)  # the ledger never claims a delivery that did not happen
            in_doubt.append(doubt)
            proc, seconds = _restart(dep, sink, sink.count())
            recover.append(seconds)
        assert wait_for(lambda: len(sink.received()) >= len(eligible), 120, 0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        dep.cli("run", "--until-idle")
        received = sink.received()
        rows = ledger(dep.db_url, campaign_id)
        shown = dep.show(campaign_id)

    duplicated = {e: c - 1 for e, c in received.items() if c > 1}
    lost = eligible - set(received)
    measure.record(
        group="Crashes",
        injected=f"SIGKILL {kills}x (once at start-up, then at random message counts "
        f"{', '.join(map(str, points))}; seed {seed}), restart after each",
        recipients=len(eligible),
        delivered=len(set(received) & eligible),
        duplicated=sum(duplicated.values()),
        lost=len(lost),
        unknown=shown["unknown"],
        recover_s=max(recover),
        time_means="longest restart: new process to its first delivered message",
        expected=f"lost 0; duplicates per crash <= concurrency ({CONCURRENCY}); "
        "ledger sent == unique received",
        in_doubt_per_crash=[len(d) for d in in_doubt],
        kills=kills,
        recover_each_s=[round(r, 2) for r in recover],
    )
    assert not lost
    assert "blocked@example.com" not in received
    assert set(received) == eligible
    # Every duplicate is a recipient that was in doubt at one of the kills.
    assert set(duplicated) <= set().union(*in_doubt)
    assert sum(duplicated.values()) <= kills * CONCURRENCY
    assert shown["status"] == "finished"
    assert (shown["sent"], shown["unknown"], shown["failed"]) == (len(eligible), 0, 0)
    assert {e for e, s in rows.items() if s == "sent"} == set(received)


def test_sigterm_repeatedly_sends_no_duplicate(tmp_path: Path, measure: Measurement) -> None:
    rng, seed = _rng()
    with SinkProcess(tmp_path / "received.txt") as sink, _deploy(tmp_path, sink) as dep:
        campaign_id, eligible = dep.seed(RECIPIENTS)
        points = _thresholds(rng)
        recover: list[float] = []
        drain: list[float] = []
        proc = dep.daemon()
        for target in points:
            assert wait_for(lambda t=target: sink.count() >= t, 60), "stalled before a stop"
            time.sleep(rng.uniform(0, 0.05))
            stopped = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0  # a graceful stop within shutdown_grace
            drain.append(time.monotonic() - stopped)
            received = sink.received()
            rows = ledger(dep.db_url, campaign_id)
            # After a graceful stop the ledger knows exactly what the sink accepted.
            assert {e for e, s in rows.items() if s == "sent"} == set(received)
            assert sum(received.values()) == len(received)
            assert not [e for e, s in rows.items() if s == "claimed"]
            proc, seconds = _restart(dep, sink, sink.count())
            recover.append(seconds)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        dep.cli("run", "--until-idle")
        received = sink.received()
        shown = dep.show(campaign_id)

    duplicates = sum(c - 1 for c in received.values())
    lost = eligible - set(received)
    measure.record(
        group="Crashes",
        injected=f"SIGTERM {len(points)}x at random message counts "
        f"{', '.join(map(str, points))} (seed {seed}), restart after each",
        recipients=len(eligible),
        delivered=len(set(received) & eligible),
        duplicated=duplicates,
        lost=len(lost),
        unknown=shown["unknown"],
        recover_s=max(recover),
        time_means="longest restart: new process to its first delivered message",
        expected="lost 0, duplicates 0, exit code 0, ledger == sink after every stop",
        drain_each_s=[round(d, 2) for d in drain],
        recover_each_s=[round(r, 2) for r in recover],
    )
    assert not lost
    assert duplicates == 0
    assert shown["status"] == "finished"
    assert (shown["sent"], shown["unknown"]) == (len(eligible), 0)
