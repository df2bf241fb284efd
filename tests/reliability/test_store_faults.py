"""Database errors at every step of the sending loop, injected at the store seam, in turn.

The outage tests (test_database_outage.py) break a real database, but where the break lands
(claim, record, count, tick) is up to timing. Here a wrapper around the real SQLite store fails
chosen calls on purpose, so each step's error handling is exercised every run: the daemon
must neither crash nor hang, deliver everything once, and leave an exact ledger.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from campaignd.daemon.service import Daemon
from campaignd.errors import StoreError
from campaignd.store.sql import SqlStore
from tests.reliability.conftest import Measurement
from tests.reliability.harness import seed_store, settings_tree, store_state, timer
from tests.support import SmtpTestServer


class FlakyStore:
    """The real store, except that the n-th calls of chosen methods raise StoreError."""

    def __init__(self, inner: SqlStore, plan: dict[str, set[int]]) -> None:
        self._inner = inner
        self._plan = plan
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in self._plan:
            return target

        async def flaky(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if self.calls[name] in self._plan[name]:
                self.injected[name] += 1
                raise StoreError(f"injected: database unavailable during {name}")
            return await target(*args, **kwargs)

        return flaky


async def test_store_errors_at_each_step_neither_crash_nor_hang_the_daemon(
    tmp_path: Path, smtp_server: SmtpTestServer, measure: Measurement
) -> None:
    url = f"sqlite:///{tmp_path / 'campaignd.db'}"
    addresses = [f"user{i}@example.com" for i in range(150)]
    campaign_id = await seed_store(url, addresses)
    settings = settings_tree(
        url,
        {"message_rate": 0, "concurrency": 5, "batch_size": 20, "poll_interval": 0.05},
        [{"port": smtp_server.port, "max_conns": 5}],
    )
    plan = {
        "claim_batch": {3, 4, 7},  # mid-campaign, with the previous batch still in flight
        "record_deliveries": {2, 5, 6},
        "counts": {2},
        "running_campaigns": {2, 3},
        "get_campaign": {3},
        "release_claims": {1},
        "populate_ledger": {1},
    }
    inner = await SqlStore.open(url)
    store = FlakyStore(inner, plan)
    try:
        with timer() as took:
            code = await asyncio.wait_for(
                Daemon(settings, until_idle=True, store=store).run(),  # type: ignore[arg-type]
                60,
            )
    finally:
        await inner.close()
    campaign, counts, _ = await store_state(url, campaign_id)
    got = Counter(r for m in smtp_server.messages for r in m.rcpt_tos)
    injected = sum(store.injected.values())
    measure.record(
        group="Database outages",
        injected=f"{injected} StoreErrors injected at the store seam: "
        + ", ".join(f"{k} x{v}" for k, v in sorted(store.injected.items())),
        recipients=len(addresses),
        delivered=len(got),
        duplicated=sum(got.values()) - len(got),
        lost=len(set(addresses) - set(got)),
        unknown=counts.unknown,
        recover_s=took[0],
        time_means="the whole run, errors included",
        expected="no crash, no hang; lost 0, duplicates 0; ledger exact",
    )
    assert code == 0
    assert store.injected["claim_batch"] >= 2 and store.injected["record_deliveries"] >= 2
    assert set(got) == set(addresses)
    assert max(got.values()) == 1
    assert campaign.status.value == "finished"
    assert (counts.sent, counts.claimed, counts.pending) == (len(addresses), 0, 0)
