"""Claim leases judged on PostgreSQL's clock: daemons whose own clocks are skewed (an hour
ahead, an hour behind) neither take a live daemon's fresh claims nor wait past the lease for a
dead one's. Real PostgreSQL (CAMPAIGND_TEST_PG_URL); SQLite and memory use the caller's clock
(documented: on SQLite every daemon is on the database's host)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from campaignd.config import AppSettings
from campaignd.domain import utcnow
from campaignd.sending import claims
from campaignd.sending.claims import StaleClaimSweep, lease, recover_at_start
from tests.integration.store_fixtures import campaign, single, subscriber

HOUR = dt.timedelta(hours=1)
pytestmark = pytest.mark.parametrize("store_url", ["postgres"], indirect=True)


async def six_claimable(store: Any) -> int:
    one = await single(store)
    for i in range(6):
        await subscriber(store, f"u{i}@x.org", (one,))
    campaign_id = await campaign(store, "single")
    await store.populate_ledger(campaign_id, utcnow())
    return campaign_id


async def test_skewed_daemons_neither_steal_live_claims_nor_wait_past_the_lease(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_id = await six_claimable(store)
    # A live daemon whose clock is an hour ahead, and one with a right clock that then dies.
    live = await store.claim_batch(campaign_id, "live", 2, utcnow() + HOUR)
    dead = await store.claim_batch(campaign_id, "dead", 2, utcnow())
    assert len(live) == len(dead) == 2

    # A daemon an hour ahead starts: by its own clock every claim would be over an hour old
    # (or, the live one's, just made); by the database's they are seconds old.
    app = AppSettings(claim_lease="10m")
    assert await recover_at_start(store, "ahead", utcnow() + HOUR, 10, lease(app)) == 0
    assert (await store.counts(campaign_id)).claimed == 4

    # Past a (short) lease, with the live daemon renewing by its clock an hour ahead: a daemon
    # an hour behind takes the dead daemon's claims now, not an hour later, and only those.
    short = dt.timedelta(seconds=0.3)
    await asyncio.sleep(0.8)
    assert await store.renew_claims("live", campaign_id, utcnow() + HOUR) == 2
    monkeypatch.setattr(claims, "CLAIM_RENEW_S", 0.05)
    monkeypatch.setattr(claims, "lease", lambda _: short)
    sweep = StaleClaimSweep(app)
    await sweep(store, "behind", [campaign_id], utcnow() - HOUR)  # starts the interval
    await asyncio.sleep(0.1)
    await sweep(store, "behind", [campaign_id], utcnow() - HOUR)
    counts = await store.counts(campaign_id)
    assert counts.claimed == 2 and counts.pending == 4
    taken = await store.claim_batch(campaign_id, "behind", 10, utcnow() - HOUR)
    assert {r.email for r in dead} <= {r.email for r in taken}
    assert not {r.email for r in live} & {r.email for r in taken}

    # The same at start-up: a daemon an hour behind recovers what is past the lease.
    await asyncio.sleep(0.8)
    assert await recover_at_start(store, "late", utcnow() - HOUR, 10, short) == 6
