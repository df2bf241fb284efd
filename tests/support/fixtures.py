"""Pytest fixtures for SMTP tests; import them into a test module or a conftest.py.

from tests.support.fixtures import test_ca, trusted_ca  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.certs import TestCA
from tests.support.smtpd import SmtpTestServer


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    """A CA and a server certificate for 127.0.0.1 / localhost."""
    return TestCA()


@pytest.fixture
def trusted_ca(test_ca: TestCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestCA:
    """Make the test CA the only one the client trusts (SSL_CERT_FILE) for this test."""
    pem = test_ca.write_pem(tmp_path / "test-ca.pem")
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    return test_ca


@pytest.fixture
async def smtp_servers(test_ca: TestCA) -> AsyncIterator[Callable[..., Any]]:
    """Start servers on demand: `srv = await smtp_servers(tls="implicit", users={...})`.

    A TLS server gets the test CA's certificate unless tls_context is given. All stop at the end.
    """
    async with AsyncExitStack() as stack:

        async def start(**kwargs: Any) -> SmtpTestServer:
            if kwargs.get("tls", "none") != "none":
                kwargs.setdefault("tls_context", test_ca.server_context())
            return await stack.enter_async_context(SmtpTestServer(**kwargs))

        yield start


@pytest.fixture
async def smtp_server(smtp_servers: Callable[..., Any]) -> SmtpTestServer:
    """A plain capture server without TLS or AUTH."""
    server: SmtpTestServer = await smtp_servers()
    return server
