"""`campaignd api-tokens` as a real command: the secret printed once, only its hash stored."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable

import pytest

from campaignd.db.migrate import upgrade

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(sqlite_url: str) -> Cli:
    asyncio.run(upgrade(sqlite_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    env["CAMPAIGND_DB__URL"] = sqlite_url

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "campaignd", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


def test_create_ls_revoke(cli: Cli, sqlite_url: str) -> None:
    made = cli("api-tokens", "create", "shop")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("cdk_") and len(secret) >= 40
    assert "shown only now" in made.stderr
    ro = cli("api-tokens", "create", "reports", "--read-only")
    assert ro.returncode == 0

    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        stored = db.execute("SELECT name, token_hash FROM api_tokens ORDER BY name").fetchall()
    assert dict(stored)["shop"] == hashlib.sha256(secret.encode()).hexdigest()
    with open(path, "rb") as f:
        assert secret.encode() not in f.read()

    listed = cli("api-tokens", "ls", "--json")
    assert listed.returncode == 0
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["read_only"]) for r in rows] == [("reports", True), ("shop", False)]
    assert set(rows[0]) == {"id", "name", "read_only", "created_at"}
    assert secret not in listed.stdout and secret not in cli("api-tokens", "ls").stdout

    dup = cli("api-tokens", "create", "shop")
    assert dup.returncode == 1 and "exists" in dup.stderr
    bad = cli("api-tokens", "create", "no spaces")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert cli("api-tokens", "revoke", "shop").returncode == 0
    gone = cli("api-tokens", "revoke", "shop")
    assert gone.returncode == 1 and "no API token named 'shop'" in gone.stderr
    assert [r["name"] for r in json.loads(cli("api-tokens", "ls", "--json").stdout)] == ["reports"]
