"""Fixtures shared by every tier: databases (SQLite per test, PostgreSQL per run)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

# Shared fixtures: stores over every backend, real SMTP test servers.
pytest_plugins = ["tests.support.fixtures", "tests.integration.store_fixtures"]

PG_ENV = "CAMPAIGND_TEST_PG_URL"
REQUIRE_PG_ENV = "CAMPAIGND_TEST_REQUIRE_PG"


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, dropped at the end.

    Reads CAMPAIGND_TEST_PG_URL (an admin URL such as postgresql://postgres@127.0.0.1/test).
    Without it, or with the server down, the tests that use it skip, unless
    CAMPAIGND_TEST_REQUIRE_PG is set (CI), where they fail.
    """
    admin = os.environ.get(PG_ENV)
    required = bool(os.environ.get(REQUIRE_PG_ENV))
    if not admin:
        if required:
            pytest.fail(f"{REQUIRE_PG_ENV} is set but {PG_ENV} is not")
        pytest.skip(f"PostgreSQL tests need {PG_ENV}=postgresql://user@host:port/db")
    name = f"campaignd_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        asyncio.run(_pg_admin(admin, f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure to reach the server
        if required:
            pytest.fail(f"PostgreSQL at {PG_ENV} is not usable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_ENV} is not reachable: {exc}")
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'campaignd.db'}"
