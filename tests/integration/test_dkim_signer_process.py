"""DKIM signing in the signer process (campaignd.rendering.dkim_pool): the same signatures as
in-process ones, verified by dkimpy, made in another process in batches; and when that process
dies, the messages of its batch fail as transient (never sent unsigned), the next batch gets a
new process, and the retried message goes out signed."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from campaignd.config import AppSettings, SmtpSettings
from campaignd.domain import OutcomeKind
from campaignd.errors import DkimSigningFailed
from campaignd.messengers.pool import SmtpMessenger
from campaignd.messengers.protocol import OffloadedSign
from campaignd.messengers.server import SmtpServer
from campaignd.rendering import dkim_pool
from campaignd.rendering.deliverability import campaign_signer
from campaignd.rendering.dkim import CampaignSigner, DkimKey, DkimSigner
from tests.support.smtpd import SmtpTestServer


def pem(kind: str) -> bytes:
    key = (
        rsa.generate_private_key(65537, 2048)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(params=["rsa", "ed25519"])
def keys(request: pytest.FixtureRequest) -> Iterator[DkimSigner]:
    signer = DkimSigner(
        [
            DkimKey.from_pem("example.com", "s1", pem(request.param)),
            DkimKey.from_pem("example.org", "s2", pem("ed25519")),
        ]
    )
    yield signer
    signer.close()


def message(i: int, domain: str = "example.com") -> bytes:
    return (
        f"From: News <news@{domain}>\r\nTo: <u{i}@example.net>\r\nSubject: Issue {i}\r\n"
        f"Message-ID: <{i}@{domain}>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nHello  reader {i}\r\n.dot\r\n\r\n"
    ).encode()


def verifies(signed: bytes, signer: DkimSigner) -> bool:
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        for key in signer.keys.values():
            if name == f"{key.record_name}.".encode():
                return key.txt_value().encode("ascii")
        raise AssertionError(name)

    return bool(dkim.verify(signed, dnsfunc=dnsfunc))


def campaign(signer: DkimSigner, domain: str, *names: str) -> CampaignSigner:
    found = signer.for_campaign(domain, ("From", "From", "To", "Subject", *names))
    assert found is not None
    return found


async def test_offloaded_signatures_are_the_in_process_ones_made_elsewhere(
    keys: DkimSigner,
) -> None:
    one = campaign(keys, "example.com", "Message-ID")
    other = campaign(keys, "example.com", "Content-Type")  # another header list, same key
    third = campaign(keys, "example.org")
    jobs = [(s, message(i, s.key.domain)) for i in range(60) for s in (one, other, third)]

    signed = await asyncio.gather(*(s.offloaded(m) for s, m in jobs))  # batched together

    # RSA PKCS#1 v1.5 and Ed25519 signatures are deterministic: the same bytes as in-process.
    assert signed == [s.sign(m) for s, m in jobs]
    assert all(verifies(m, keys) for m in signed[:6])
    assert keys.pool.pids and os.getpid() not in keys.pool.pids


async def test_bare_line_ends_are_made_crlf_before_signing(keys: DkimSigner) -> None:
    signer = campaign(keys, "example.com")
    bare = message(1).replace(b"\r\n", b"\n")
    signed = await signer.offloaded(bare)
    assert signed == signer.sign(bare) and b"\n" not in signed.replace(b"\r\n", b"")
    assert verifies(signed, keys)


async def test_a_dead_signer_fails_its_batch_and_the_next_batch_gets_a_new_one(
    keys: DkimSigner,
) -> None:
    signer = campaign(keys, "example.com")
    assert verifies(await signer.offloaded(message(0)), keys)
    (pid,) = keys.pool.pids
    os.kill(pid, signal.SIGSTOP)  # the batch below is handed over and waits in its pipe
    waiting = [asyncio.ensure_future(signer.offloaded(message(i))) for i in range(1, 5)]
    await asyncio.sleep(0.2)
    assert not any(w.done() for w in waiting)
    os.kill(pid, signal.SIGKILL)

    results = await asyncio.gather(*waiting, return_exceptions=True)

    assert all(isinstance(r, DkimSigningFailed) for r in results), results
    again = await signer.offloaded(message(5))
    assert verifies(again, keys)
    assert keys.pool.pids and pid not in keys.pool.pids


async def test_a_signer_that_died_while_idle_is_replaced_without_failing_anything(
    keys: DkimSigner,
) -> None:
    signer = campaign(keys, "example.com")
    await signer.offloaded(message(0))
    (pid,) = keys.pool.pids
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.1)
    assert verifies(await signer.offloaded(message(1)), keys)
    assert pid not in keys.pool.pids


async def test_a_failing_batch_fails_alone_and_the_process_goes_on(keys: DkimSigner) -> None:
    signer = campaign(keys, "example.com")
    await signer.offloaded(message(0))
    (pid,) = keys.pool.pids
    with pytest.raises(DkimSigningFailed, match="KeyError"):  # no key for that domain there
        await keys.pool.signature(("unknown.example", ("From",)), message(1))
    assert verifies(await signer.offloaded(message(2)), keys)
    assert keys.pool.pids == (pid,)


async def test_batches_spread_over_the_signer_processes() -> None:
    signer = DkimSigner([DkimKey.from_pem("example.com", "s1", pem("ed25519"))], processes=2)
    try:
        one = campaign(signer, "example.com")
        jobs = [message(i) for i in range(200)]  # more than one batch: both processes get some
        signed = await asyncio.gather(*(one.offloaded(m) for m in jobs))
        assert signed == [one.sign(m) for m in jobs]
        assert len(set(signer.pool.pids)) == 2
    finally:
        signer.close()


async def test_an_idle_signer_process_exits_and_a_dropped_pool_is_collected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dkim_pool, "IDLE_SECONDS", 0.2)
    signer = DkimSigner([DkimKey.from_pem("example.com", "s1", pem("ed25519"))])
    one = campaign(signer, "example.com")
    await one.offloaded(message(0))
    (pid,) = signer.pool.pids
    await asyncio.sleep(0.5)
    assert signer.pool.pids == ()
    with pytest.raises(ProcessLookupError):  # it ended, and was waited for
        os.kill(pid, 0)
    assert verifies(await one.offloaded(message(1)), signer)  # a new one for the next batch

    await asyncio.sleep(0.5)  # idle again: nothing holds the pool but us
    pool = weakref.ref(signer.pool)
    del signer, one
    gc.collect()
    assert pool() is None


async def test_after_close_offloaded_signing_fails(keys: DkimSigner) -> None:
    signer = campaign(keys, "example.com")
    await signer.offloaded(message(0))
    keys.close()
    assert keys.pool.pids == ()
    with pytest.raises(DkimSigningFailed):
        await signer.offloaded(message(1))


def test_a_campaign_gets_the_offloaded_signer(keys: DkimSigner) -> None:
    app = AppSettings(from_email="News <news@example.com>")
    sign = campaign_signer(keys, "news@example.com", (), app)
    assert isinstance(sign, OffloadedSign)


async def test_a_message_whose_signer_died_is_not_sent_and_goes_out_signed_on_retry(
    keys: DkimSigner, smtp_servers: Callable[..., Any]
) -> None:
    smtp: SmtpTestServer = await smtp_servers()
    server = SmtpServer(
        SmtpSettings(
            host=smtp.host,
            port=smtp.port,
            tls_type="none",  # type: ignore[arg-type]
            auth_protocol="none",  # type: ignore[arg-type]
        )
    )
    messenger = SmtpMessenger("email", [server])
    signer = campaign(keys, "example.com")
    sent = await messenger.send("news@example.com", ["u0@example.net"], message(0), signer)
    assert sent.kind is OutcomeKind.SENT
    (pid,) = keys.pool.pids
    os.kill(pid, signal.SIGSTOP)
    sending = asyncio.ensure_future(
        messenger.send("news@example.com", ["u1@example.net"], message(1), signer)
    )
    await asyncio.sleep(0.2)
    os.kill(pid, signal.SIGKILL)

    failed = await sending

    assert failed.kind is OutcomeKind.TRANSIENT and "DKIM signing failed" in failed.text
    assert failed.attempts == 0 and not failed.connection_error
    assert len(smtp.messages) == 1  # the first one only: nothing unsigned went out
    retried = await messenger.send("news@example.com", ["u1@example.net"], message(1), signer)
    assert retried.kind is OutcomeKind.SENT
    assert [verifies(m.data, keys) for m in smtp.messages] == [True, True]
    assert smtp.messages[1].data.startswith(b"DKIM-Signature: ")
    await messenger.close()
