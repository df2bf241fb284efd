"""Shared set-up for the reliability tier: settings files, the real CLI, sinks and ledger reads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campaignd.config import Settings
from campaignd.daemon.service import Daemon
from campaignd.domain import (
    CampaignStatus,
    ImportOptions,
    NewCampaign,
    NewSubscriber,
    OptIn,
    SubscriptionStatus,
    utcnow,
)
from campaignd.store.sql import SqlStore, upgrade_schema

SECRET = "sig-secret-Qw7Rt5Zx2Kp9Lm4N"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"no TOML for {value!r}")


def settings_toml(
    db_url: str, app: Mapping[str, Any], smtp: Sequence[Mapping[str, Any]], **sections: Any
) -> str:
    """A settings file: [app], [db], [security], other sections, then [[smtp]] servers."""
    tables: dict[str, Mapping[str, Any]] = {
        "app": {"from_email": "News <news@example.com>", "poll_interval": "100ms", **app},
        "db": {"url": db_url},
        "security": {"secret": SECRET},
        **sections,
    }
    out: list[str] = []
    for name, values in tables.items():
        out.append(f"[{name}]")
        out += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
        out.append("")
    for server in smtp:
        out.append("[[smtp]]")
        defaults = {"host": "127.0.0.1", "tls_type": "none", "auth_protocol": "none"}
        out += [f"{k} = {_toml_value(v)}" for k, v in {**defaults, **server}.items()]
        out.append("")
    return "\n".join(out)


def settings_tree(
    db_url: str, app: Mapping[str, Any], smtp: Sequence[Mapping[str, Any]]
) -> Settings:
    """The same as settings_toml, as a Settings object for an in-process daemon."""
    servers = [
        {"host": "127.0.0.1", "tls_type": "none", "auth_protocol": "none", **s} for s in smtp
    ]
    return Settings.model_validate(
        {
            "app": {"from_email": "News <news@example.com>", "poll_interval": 0.05, **app},
            "db": {"url": db_url},
            "security": {"secret": SECRET},
            "smtp": servers,
        }
    )


@dataclass
class Deployment:
    """One campaignd installation in a temporary folder, driven through the real CLI."""

    root: Path
    db_url: str
    config: Path = field(init=False)
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.config = self.root / "settings.toml"
        self.env = {
            **os.environ,
            "CAMPAIGND_CONFIG": str(self.config),
            "PYTHONPATH": str(ROOT),
        }

    def write(
        self, app: Mapping[str, Any], smtp: Sequence[Mapping[str, Any]], **sections: Any
    ) -> None:
        self.config.write_text(settings_toml(self.db_url, app, smtp, **sections))
        self.config.chmod(0o600)

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "campaignd", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"campaignd {' '.join(args)} failed: {result.stderr}")
        return result

    async def acli(self, *args: str, timeout: float = 120) -> tuple[int, str, str]:
        """The CLI without blocking the event loop (for servers running in this process)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "campaignd",
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    def daemon(self, *args: str) -> subprocess.Popen[str]:
        """`campaignd run` in a subprocess; its stderr goes to daemon.log; killed by close()."""
        log = (self.root / "daemon.log").open("a")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "campaignd", "run", *args],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
            )
        finally:
            log.close()
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        """Kill any daemon still running (after a failed test)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def show(self, campaign_id: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(
            self.cli("campaigns", "show", campaign_id, "--json").stdout
        )
        return out

    def seed(self, n: int, *, name: str = "reliability") -> tuple[str, set[str]]:
        """Schema, a list, n confirmed subscribers (plus a blocklisted one), a running campaign."""
        rows = ["email,name,attributes"]
        rows += [f'user{i}@example.com,User {i},"{{""n"": {i}}}"' for i in range(n)]
        rows.append("blocked@example.com,Blocked,")
        csv_path = self.root / "subscribers.csv"
        csv_path.write_text("\n".join(rows) + "\n")
        self.cli("db", "upgrade")
        self.cli("lists", "create", "news")
        self.cli("subscribers", "import", str(csv_path), "--list", "news", "--status", "confirmed")
        self.cli("subscribers", "blocklist", "blocked@example.com")
        body = self.root / "body.html"
        body.write_text("<p>Hello {{ subscriber.name }}, number {{ subscriber.attributes.n }}</p>")
        campaign_id = str(
            self.cli(
                "campaigns",
                "create",
                "--name",
                name,
                "--subject",
                "Hi {{ subscriber.name }}",
                "--list",
                "news",
                "--body-file",
                str(body),
            ).stdout.strip()
        )
        self.cli("campaigns", "start", campaign_id)
        return campaign_id, {f"user{i}@example.com" for i in range(n)}


class SinkProcess:
    """tests.reliability.sink in a subprocess: what it accepted, one line per message."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> SinkProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.sink", "--out", str(self.out)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()

    def open_connections(self) -> int | None:
        """Connections the sink has open (None before it wrote the count)."""
        path = self.out.with_name(self.out.name + ".open")
        text = path.read_bytes() if path.exists() else b""
        return int(text) if len(text) == 10 else None

    def settled(self, timeout: float = 10) -> bool:
        """Wait until no connection is open: after its client was killed, everything the
        client had written (and the kernel still held) has been read and counted."""
        return wait_for(lambda: self.open_connections() == 0, timeout)

    def lines(self) -> list[str]:
        if not self.out.exists():
            return []
        return self.out.read_text().splitlines()

    def count(self) -> int:
        if not self.out.exists():
            return 0
        with self.out.open("rb") as fh:
            return sum(1 for _ in fh)

    def received(self) -> Counter[str]:
        return Counter(addr for line in self.lines() for addr in line.split())


def ledger(db_url: str, campaign_id: int | str) -> dict[str, str]:
    """email -> delivery status of one campaign, read straight from the database."""
    query = (
        "SELECT s.email, d.status FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
        "WHERE d.campaign_id = {p}"
    )
    if db_url.startswith("sqlite:///"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=30)
        try:
            rows = conn.execute(query.format(p="?"), (int(campaign_id),)).fetchall()
        finally:
            conn.close()
        return {str(e): str(s) for e, s in rows}

    async def pg() -> dict[str, str]:
        import asyncpg

        conn = await asyncpg.connect(db_url, timeout=10)
        try:
            records = await conn.fetch(query.format(p="$1"), int(campaign_id))
        finally:
            await conn.close()
        return {str(r[0]): str(r[1]) for r in records}

    return asyncio.run(pg())


def wait_for(predicate: Any, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# -- in-process seeding and running, for scenarios whose servers run in the test's loop ------


async def seed_store(
    db_url: str, addresses: Sequence[str], *, body: str = "<p>Hello {{ subscriber.name }}</p>"
) -> int:
    """Schema, a list with these confirmed subscribers, and a running campaign; its id."""
    await upgrade_schema(db_url)
    store = await SqlStore.open(db_url)
    try:
        news = await store.create_list("news", OptIn.SINGLE, "")
        rows = [NewSubscriber(a, a.split("@")[0]) for a in addresses]
        options = ImportOptions(list_ids=(news.id,), status=SubscriptionStatus.CONFIRMED)
        await store.import_batch(rows, options)
        campaign = await store.create_campaign(
            NewCampaign(
                name="faults",
                subject="Hi {{ subscriber.name }}",
                from_email="News <news@example.com>",
                body=body,
                lists=("news",),
            ),
            None,
        )
        await store.transition(
            campaign.id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING, now=utcnow()
        )
        return campaign.id
    finally:
        await store.close()


async def run_daemon(settings: Settings, timeout: float = 60) -> int:
    """`campaignd run --until-idle` in this process (same code, no CLI); its exit code."""
    return await asyncio.wait_for(Daemon(settings, until_idle=True).run(), timeout)


async def store_state(db_url: str, campaign_id: int) -> tuple[Any, Any, list[Any]]:
    """(campaign, counts, failures) from the database."""
    store = await SqlStore.open(db_url)
    try:
        campaign = await store.get_campaign(campaign_id)
        counts = await store.counts(campaign_id)
        failures = await store.failures(campaign_id)
        return campaign, counts, failures
    finally:
        await store.close()


@contextlib.contextmanager
def timer() -> Iterator[list[float]]:
    """with timer() as t: ...; t[0] is the elapsed seconds afterwards."""
    box = [0.0]
    start = time.monotonic()
    try:
        yield box
    finally:
        box[0] = time.monotonic() - start
