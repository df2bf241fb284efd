"""Fixtures for the real-MTA tier: one private Postfix per test module, relaying to a recorder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.mta.postfix import (
    ACCOUNT,
    REJECTED,
    Postfix,
    Recorder,
    Unavailable,
    ensure_tools,
    private_postfix,
    required,
)
from tests.support.certs import TestCA


def _unavailable(reason: str) -> None:
    if required():
        pytest.fail(f"the MTA tests must run here (CI) but cannot: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def mta_tools() -> None:
    try:
        ensure_tools()
    except Unavailable as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="module")
def recorder(mta_tools: None) -> Iterator[Recorder]:
    """The server Postfix relays everything to (started first: mail must not be deferred)."""
    rec = Recorder().start()
    try:
        yield rec
    finally:
        rec.stop()


@pytest.fixture(scope="module")
def postfix(recorder: Recorder, test_ca: TestCA) -> Iterator[Postfix]:
    """Postfix submission (STARTTLS, SASL PLAIN/LOGIN/CRAM-MD5 from sasldb2) on 127.0.0.1."""
    cert = test_ca.cert
    with ExitStack() as stack:
        try:
            running = stack.enter_context(
                private_postfix(
                    relay_port=recorder.port,
                    cert_chain_pem=b"".join(pem.bytes() for pem in cert.cert_chain_pems),
                    key_pem=cert.private_key_pem.bytes(),
                    accounts=[ACCOUNT],
                    rejected=REJECTED,
                )
            )
        except Unavailable as exc:
            _unavailable(str(exc))
        yield running


@pytest.fixture
def relayed(postfix: Postfix, recorder: Recorder) -> Recorder:
    """The recorder, emptied for this test."""
    recorder.clear()
    return recorder
