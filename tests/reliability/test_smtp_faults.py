"""SMTP faults against the daemon's real engine, store (SQLite) and SMTP pool.

Servers are aiosmtpd on 127.0.0.1 in the test's loop with faults scripted per recipient
(tests/reliability/faultserver.py); the daemon is `campaignd run --until-idle`'s code in this
process (Daemon), the CLI is used where an operator would act (`campaigns resume`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from campaignd.domain import CampaignStatus
from tests.reliability.conftest import Measurement
from tests.reliability.faultserver import Script, ScriptedServer
from tests.reliability.harness import (
    Deployment,
    run_daemon,
    seed_store,
    settings_tree,
    store_state,
    timer,
)
from tests.support import SmtpTestServer, self_signed_context

FAST = {"message_rate": 0, "concurrency": 5, "batch_size": 50, "retry_backoff": 0.1}


@pytest.fixture
async def servers() -> AsyncIterator[Any]:
    async with AsyncExitStack() as stack:

        async def start(script: Script | None = None, **kwargs: Any) -> ScriptedServer:
            srv = ScriptedServer(script or Script(), **kwargs)
            return await stack.enter_async_context(srv)

        yield start


def received(*servers: SmtpTestServer) -> Counter[str]:
    return Counter(r for s in servers for m in s.messages for r in m.rcpt_tos)


def users(n: int) -> list[str]:
    return [f"user{i}@example.com" for i in range(n)]


def smtp(*servers: SmtpTestServer, **kw: Any) -> list[dict[str, Any]]:
    return [{"port": s.port, "max_conns": 5, "timeout": "2s", **kw} for s in servers]


async def test_4xx_on_a_share_of_recipients_all_delivered_once(
    tmp_path: Path, servers: Any, measure: Measurement
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    addresses = users(100)
    script = Script()
    greylisted = addresses[::5]  # 20%: refused twice at RCPT
    busy = addresses[1::10]  # 10%: "451" after the final "." once
    for a in greylisted:
        script.add("RCPT", a, "451 4.7.1 greylisted, try again", "451 4.7.1 greylisted")
    for a in busy:
        script.add("END", a, "451 4.3.0 queue full, try later")
    srv = await servers(script)
    campaign_id = await seed_store(url, addresses)
    # max_msg_retries = 0: every 4xx goes back to the ledger as deferred and waits its back-off.
    settings = settings_tree(url, {**FAST, "max_attempts": 5}, smtp(srv, max_msg_retries=0))
    with timer() as took:
        assert await run_daemon(settings) == 0
    campaign, counts, _ = await store_state(url, campaign_id)
    got = received(srv)
    measure.record(
        group="SMTP faults",
        injected=f"4xx on {len(greylisted) + len(busy)}% of recipients: {len(greylisted)} get "
        f"451 at RCPT twice, {len(busy)} get 451 after the final '.' once "
        "(max_msg_retries 0, retry_backoff 0.1s: retried through the ledger)",
        recipients=len(addresses),
        delivered=len(got),
        duplicated=sum(got.values()) - len(got),
        lost=len(set(addresses) - set(got)),
        unknown=counts.unknown,
        failed=counts.failed,
        recover_s=took[0],
        time_means="the whole daemon run (until idle)",
        expected="all delivered after retries, none twice",
        faults_used=len(script.injected),
    )
    assert len(script.injected) == 2 * len(greylisted) + len(busy)
    assert set(got) == set(addresses)
    assert max(got.values()) == 1
    assert campaign.status is CampaignStatus.FINISHED
    assert (counts.sent, counts.failed, counts.unknown) == (len(addresses), 0, 0)


async def test_session_faults_the_ledger_says_exactly_what_happened(
    tmp_path: Path, servers: Any, measure: Measurement
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    addresses = users(40)
    u = {i: addresses[i] for i in range(10)}
    script = Script()
    script.add("RCPT", u[1], "421 4.3.2 service shutting down")  # 421 mid-session
    script.add("RCPT", u[2], "drop")  # connection lost before DATA
    script.add("DATA", u[3], "421 4.4.2 closing connection")
    script.add("END", u[4], "drop")  # lost after the final ".", not stored
    script.add("END", u[5], "accept-then-drop")  # stored, then lost before the reply
    script.add("END", u[6], "hang")  # no reply within the timeout after the final "."
    script.add("END", u[7], "421 4.3.0 closing, not accepted")  # explicit: safe to retry
    script.add("END", u[8], "550 5.1.1 no such user")
    script.add("DATA_MID", u[9], "drop")  # a small message: its "." may have left already
    a = await servers(script)
    b = await servers(script)
    campaign_id = await seed_store(url, addresses)
    settings = settings_tree(url, FAST, smtp(a, b, timeout="1s", max_msg_retries=2))
    with timer() as took:
        assert await run_daemon(settings) == 0
    campaign, counts, failures = await store_state(url, campaign_id)
    got = received(a, b)
    by_email = {f.email: f for f in failures}
    unknown = {u[4], u[5], u[6], u[9]}
    measure.record(
        group="SMTP faults",
        injected="per recipient: 421 at RCPT, drop at RCPT, 421 at DATA, drop after '.', "
        "accepted then dropped after '.', no reply after '.' (1s timeout), 421 after '.', "
        "550 after '.', drop while the message comes in",
        recipients=len(addresses),
        delivered=len(got),
        duplicated=sum(got.values()) - len(got),
        lost=len(set(addresses) - set(got) - unknown - {u[8]}),
        unknown=counts.unknown,
        failed=counts.failed,
        recover_s=took[0],
        time_means="the whole daemon run (until idle)",
        expected="before '.' or an explicit 4xx: retried, delivered once; no reply after '.': "
        "unknown, never re-sent; 5xx: failed",
    )
    assert len(script.injected) == 9
    assert max(got.values()) == 1  # nothing sent twice, not even the ambiguous ones
    assert {e for e, f in by_email.items() if f.status.value == "unknown"} == unknown
    assert all("may have been accepted" in by_email[e].text for e in unknown)
    assert by_email[u[8]].status.value == "failed" and by_email[u[8]].code == 550
    assert set(got) == set(addresses) - {u[4], u[6], u[8], u[9]}  # u5: stored once, unknown
    assert (counts.sent, counts.unknown, counts.failed) == (len(addresses) - 5, 4, 1)
    assert campaign.status is CampaignStatus.FINISHED


async def test_slow_and_hanging_greetings_do_not_lose_or_double(
    tmp_path: Path, servers: Any, measure: Measurement
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    addresses = users(60)
    a = await servers()
    b = await servers()
    a.faults.greeting_delay = 0.3  # slow but within the timeout
    b.faults.greeting_delay = 0.3
    a.faults.add("GREETING", "hang", "hang")  # two connections never greeted: timeout
    b.faults.add("GREETING", "421 4.3.2 too busy")
    campaign_id = await seed_store(url, addresses)
    settings = settings_tree(url, FAST, smtp(a, b, timeout="1s", max_msg_retries=3))
    with timer() as took:
        assert await run_daemon(settings) == 0
    campaign, counts, _ = await store_state(url, campaign_id)
    got = received(a, b)
    measure.record(
        group="SMTP faults",
        injected="two-server pool, 0.3s greetings; 2 connections never greeted (1s timeout), "
        "1 greeted with 421",
        recipients=len(addresses),
        delivered=len(got),
        duplicated=sum(got.values()) - len(got),
        lost=len(set(addresses) - set(got)),
        unknown=counts.unknown,
        failed=counts.failed,
        recover_s=took[0],
        time_means="the whole daemon run (until idle)",
        expected="all delivered once, nothing unknown",
        connections=a.total_connections + b.total_connections,
    )
    assert set(got) == set(addresses) and max(got.values()) == 1
    assert (counts.sent, counts.unknown) == (len(addresses), 0)
    assert campaign.status is CampaignStatus.FINISHED


async def test_one_pool_server_dies_mid_campaign_the_others_take_over(
    tmp_path: Path, servers: Any, measure: Measurement
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    addresses = users(400)
    a = await servers()
    b = await servers()
    c = await servers()
    campaign_id = await seed_store(url, addresses)
    settings = settings_tree(url, {**FAST, "concurrency": 10}, smtp(a, b, c))
    daemon = asyncio.create_task(run_daemon(settings))
    while len(a.messages) < 40 and not daemon.done():
        await asyncio.sleep(0.005)
    at_death = len(received(a, b, c))
    await a.stop()  # connections cut, port closed: refused from now on
    with timer() as took:
        assert await daemon == 0
    campaign, counts, failures = await store_state(url, campaign_id)
    got = received(a, b, c)
    unknown = {f.email for f in failures if f.status.value == "unknown"}
    lost = set(addresses) - set(got) - unknown
    measure.record(
        group="SMTP faults",
        injected=f"pool of 3; server A stopped (connections cut, port closed) after "
        f"{at_death} messages",
        recipients=len(addresses),
        delivered=len(got),
        duplicated=sum(got.values()) - len(got),
        lost=len(lost),
        unknown=counts.unknown,
        failed=counts.failed,
        recover_s=took[0],
        time_means="the whole daemon run (until idle)",
        expected="campaign finishes on the others; nothing twice; only A's in-flight "
        "messages may be unknown",
        a_after_stop=len(a.messages),
    )
    assert campaign.status is CampaignStatus.FINISHED
    assert max(got.values()) == 1
    assert counts.unknown <= 5  # at most A's in-flight transactions (max_conns) are ambiguous
    assert not lost  # anything not received is recorded as unknown, never silently dropped
    assert counts.sent + counts.unknown == len(addresses)
    assert len(b.messages) > 100 and len(c.messages) > 100


async def test_all_servers_down_pauses_then_resume_completes_without_duplicates(
    tmp_path: Path, servers: Any, measure: Measurement
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    addresses = users(80)
    a = await servers()
    b = await servers()
    ports = [a.port, b.port]
    await a.stop()
    await b.stop()
    campaign_id = await seed_store(url, addresses)
    app = {**FAST, "max_send_errors": 10}
    settings = settings_tree(url, app, smtp(a, b))
    with timer() as pausing:
        assert await run_daemon(settings) == 0
    campaign, counts, _ = await store_state(url, campaign_id)
    assert campaign.status is CampaignStatus.PAUSED
    reason = campaign.pause_reason or ""
    assert "max_send_errors=10" in reason and "refused" in reason, reason
    assert counts.sent == 0 and counts.unknown == 0

    back = [await servers(port=p) for p in ports]  # both come back on their ports
    dep = Deployment(tmp_path, url)
    dep.write(app, smtp(*back))
    code, _, err = await dep.acli("campaigns", "resume", str(campaign_id))
    assert code == 0, err
    with timer() as recovering:
        assert await run_daemon(settings) == 0
    campaign, counts, _ = await store_state(url, campaign_id)
    got = received(*back)
    measure.record(
        group="SMTP faults",
        injected="both servers of the pool refuse connections; max_send_errors 10; then both "
        "come back and `campaignd campaigns resume` is run",
        recipients=len(addresses),
        delivered=len(got),
        duplicated=sum(got.values()) - len(got),
        lost=len(set(addresses) - set(got)),
        unknown=counts.unknown,
        failed=counts.failed,
        recover_s=recovering[0],
        time_means="resume to finished (deferred rows wait their 5s connection back-off)",
        expected="paused with the reason after max_send_errors; resume completes, none twice",
        pause_reason=reason[:300],
        seconds_to_pause=round(pausing[0], 2),
    )
    assert campaign.status is CampaignStatus.FINISHED
    assert set(got) == set(addresses) and max(got.values()) == 1
    assert counts.sent == len(addresses)


async def test_untrusted_certificate_is_a_clear_error_unless_skip_verify(
    tmp_path: Path, servers: Any, measure: Measurement
) -> None:
    context = self_signed_context(tmp_path)
    srv = await servers(tls="implicit", tls_context=context)
    addresses = users(20)
    strict = f"sqlite:///{tmp_path / 'strict.db'}"
    relaxed = f"sqlite:///{tmp_path / 'relaxed.db'}"
    strict_id = await seed_store(strict, addresses)
    relaxed_id = await seed_store(relaxed, addresses)
    app = {**FAST, "max_send_errors": 5}
    assert await run_daemon(settings_tree(strict, app, smtp(srv, tls_type="TLS"))) == 0
    campaign, counts, _ = await store_state(strict, strict_id)
    reason = campaign.pause_reason or ""
    assert campaign.status is CampaignStatus.PAUSED
    assert "certificate not trusted" in reason, reason
    assert not srv.messages and counts.sent == 0

    loose = smtp(srv, tls_type="TLS", tls_skip_verify=True)
    assert await run_daemon(settings_tree(relaxed, app, loose)) == 0
    campaign, counts, _ = await store_state(relaxed, relaxed_id)
    got = received(srv)
    measure.record(
        group="SMTP faults",
        injected="implicit-TLS server with a self-signed certificate; then tls_skip_verify",
        recipients=len(addresses),
        delivered=len(got),
        duplicated=sum(got.values()) - len(got),
        lost=len(set(addresses) - set(got)),
        unknown=counts.unknown,
        expected="paused with 'certificate not trusted'; with tls_skip_verify all delivered",
        pause_reason=reason[:300],
    )
    assert campaign.status is CampaignStatus.FINISHED
    assert set(got) == set(addresses) and all(m.tls for m in srv.messages)


async def test_wrong_password_pauses_at_once(
    tmp_path: Path, servers: Any, measure: Measurement
) -> None:
    password = "wrong-Pa55word-xyz"
    srv = await servers(users={"acme": "right-password"})
    addresses = users(500)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    campaign_id = await seed_store(url, addresses)
    creds = {"auth_protocol": "plain", "username": "acme", "password": password}
    with timer() as took:
        assert await run_daemon(settings_tree(url, FAST, smtp(srv, **creds))) == 0
    campaign, counts, _ = await store_state(url, campaign_id)
    reason = campaign.pause_reason or ""
    measure.record(
        group="SMTP faults",
        injected="AUTH PLAIN with a wrong password (max_send_errors 1000)",
        recipients=len(addresses),
        delivered=len(srv.messages),
        unknown=counts.unknown,
        recover_s=took[0],
        time_means="the whole daemon run (until idle)",
        expected="paused at once with 'authentication failed', not after 1000 errors",
        send_errors=campaign.send_errors,
        connections=srv.total_connections,
    )
    assert campaign.status is CampaignStatus.PAUSED
    assert "authentication failed" in reason, reason
    assert password not in reason
    assert not srv.messages
    assert campaign.send_errors <= FAST["concurrency"]
    assert srv.total_connections <= 2 * FAST["concurrency"]
    assert counts.sent == 0 and counts.pending + counts.deferred == len(addresses)
