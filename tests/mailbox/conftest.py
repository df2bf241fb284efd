"""Fixtures for the mailbox tier: one private Dovecot per module (see tests/mailbox/dovecot.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mailbox.dovecot import Dovecot, Unavailable, ensure_tools, private_dovecot, required
from tests.support.certs import TestCA


@pytest.fixture(scope="module")
def dovecot(test_ca: TestCA) -> Iterator[Dovecot]:
    # Not under pytest's tmp_path: its parents are private to root (0700), and Dovecot's
    # auth and mail processes run as other users.
    root = Path(tempfile.mkdtemp(prefix="campaignd-dovecot-"))
    try:
        ensure_tools()
        cert = test_ca.cert
        chain = b"".join(pem.bytes() for pem in cert.cert_chain_pems)
        with private_dovecot(root, chain, cert.private_key_pem.bytes()) as running:
            yield running
    except Unavailable as exc:
        if required():
            pytest.fail(f"the mailbox tests must run here (CI) but cannot: {exc}", pytrace=False)
        pytest.skip(str(exc))
    finally:
        shutil.rmtree(root, ignore_errors=True)
