"""The database goes away mid-campaign: the daemon waits, retries, and loses nothing.

PostgreSQL: a throwaway server this test starts with initdb on a port of its own is stopped
(`pg_ctl stop -m fast`: every connection is terminated) while the daemon sends, kept down for a
few seconds and started again. SQLite: another process holds `BEGIN EXCLUSIVE` for a few
seconds. In both the daemon process must survive (no restart), finish the campaign, send no
duplicate and leave a ledger equal to what the SMTP sink accepted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_PG_ENV
from tests.reliability.conftest import Measurement
from tests.reliability.harness import Deployment, SinkProcess, ledger, wait_for
from tests.reliability.pgcluster import ThrowawayPostgres, find_bindir

pytestmark = pytest.mark.slow

RECIPIENTS = 3000
CONCURRENCY = 10
OUTAGE_S = 4.0


@pytest.fixture
def throwaway_pg() -> Iterator[ThrowawayPostgres]:
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get(REQUIRE_PG_ENV):
            pytest.fail(f"{REQUIRE_PG_ENV} is set but no initdb/pg_ctl was found")
        pytest.skip("needs PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql)")
    pg = ThrowawayPostgres(bindir)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()


def _outage(
    dep: Deployment,
    sink: SinkProcess,
    campaign_id: str,
    eligible: set[str],
    begin: Callable[[], None],
    end: Callable[[], None],
) -> dict[str, object]:
    """Run the daemon, break the database at ~30% for OUTAGE_S, then let it finish."""
    proc = dep.daemon()
    assert wait_for(lambda: sink.count() >= RECIPIENTS * 0.3, 60), "did not start sending"
    begin()
    broken_at = time.monotonic()
    before = sink.count()  # once the database is really unavailable
    time.sleep(OUTAGE_S)
    during = sink.count() - before
    end()
    restored_at = time.monotonic()
    back = sink.count()
    assert wait_for(lambda: sink.count() > back, 60), "no message after the database came back"
    recover = time.monotonic() - restored_at
    assert wait_for(lambda: len(sink.received()) >= len(eligible), 120, 0.2), "did not finish"
    assert proc.poll() is None, "the daemon died during the outage"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    received = sink.received()
    rows = ledger(dep.db_url, campaign_id)
    log = (dep.root / "daemon.log").read_text()
    assert set(received) == eligible
    assert sum(received.values()) == len(received), "duplicates"
    assert {e for e, s in rows.items() if s == "sent"} == set(received)
    assert set(rows.values()) == {"sent"}
    return {
        "sent_during_outage": during,
        "outage_s": round(restored_at - broken_at, 2),
        "recover": recover,
        "received": received,
        "log": log,
    }


def _record(measure: Measurement, result: dict[str, object], injected: str, n: int) -> None:
    received = result["received"]
    assert isinstance(received, dict)
    measure.record(
        group="Database outages",
        injected=injected,
        recipients=n,
        delivered=len(received),
        duplicated=sum(received.values()) - len(received),
        lost=n - len(received),
        unknown=0,
        recover_s=result["recover"],
        time_means="database back to the next delivered message",
        expected="the daemon process survives; lost 0, duplicates 0; ledger == sink",
        sent_during_outage=result["sent_during_outage"],
        outage_s=result["outage_s"],
    )


def test_postgres_stopped_and_started_mid_campaign(
    measure: Measurement, tmp_path: Path, throwaway_pg: ThrowawayPostgres
) -> None:
    with (
        SinkProcess(tmp_path / "received.txt") as sink,
        Deployment(tmp_path, throwaway_pg.url) as dep,
    ):
        dep.write(
            app={"message_rate": 1000, "concurrency": CONCURRENCY, "batch_size": 500},
            smtp=[{"port": sink.port, "max_conns": CONCURRENCY}],
        )
        campaign_id, eligible = dep.seed(RECIPIENTS)
        result = _outage(dep, sink, campaign_id, eligible, throwaway_pg.stop, throwaway_pg.start)
    _record(
        measure,
        result,
        f"PostgreSQL (own initdb cluster) stopped with `pg_ctl stop -m fast` at ~30% for "
        f"{OUTAGE_S:g}s, then started",
        len(eligible),
    )
    # While the database is gone at most `concurrency` messages go out unrecorded: sending
    # stops by itself (back-pressure) instead of piling up outcomes it cannot save.
    sent_during = result["sent_during_outage"]
    assert isinstance(sent_during, int) and sent_during <= CONCURRENCY + 5
    # Reported, but once per outage, not once per tick.
    log = str(result["log"])
    assert log.count("database unavailable") == 1 and "database available again" in log


def test_sqlite_locked_by_another_process(tmp_path: Path, measure: Measurement) -> None:
    db = tmp_path / "campaignd.db"
    holder: list[subprocess.Popen[str]] = []
    hold = OUTAGE_S + 1  # the holder keeps the lock a little longer than the outage window

    def lock() -> None:
        code = (
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(db)!r}, isolation_level=None, timeout=30)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            f"time.sleep({hold})\n"
            "c.execute('COMMIT')\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        holder.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"

    def unlock() -> None:
        proc = holder[0]
        assert proc.wait(timeout=30) == 0
        assert proc.stdout is not None
        proc.stdout.close()

    with (
        SinkProcess(tmp_path / "received.txt") as sink,
        Deployment(tmp_path, f"sqlite:///{db}") as dep,
    ):
        dep.write(
            app={"message_rate": 1000, "concurrency": CONCURRENCY, "batch_size": 500},
            smtp=[{"port": sink.port, "max_conns": CONCURRENCY}],
        )
        campaign_id, eligible = dep.seed(RECIPIENTS)
        result = _outage(dep, sink, campaign_id, eligible, lock, unlock)
    _record(
        measure,
        result,
        f"SQLite file locked by another process (`BEGIN EXCLUSIVE`) at ~30% for {hold:g}s",
        len(eligible),
    )
    sent_during = result["sent_during_outage"]
    assert isinstance(sent_during, int) and sent_during <= CONCURRENCY + 5
