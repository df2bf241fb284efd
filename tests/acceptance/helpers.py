"""Shared pieces for acceptance tests: a settings file, the real CLI, a capture SMTP server."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from campaignd.devtools.devsmtp import free_port, wait_for_port

__all__ = ["Env", "capture_server", "free_port", "make_env"]


@dataclass
class Env:
    root: Path
    mail: Path
    env: dict[str, str]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "campaignd", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"campaignd {args} failed: {result.stderr}")
        return result

    def daemon(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "campaignd", "run", *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def received(self) -> Counter[str]:
        got: Counter[str] = Counter()
        for path in self.mail.glob("*.eml"):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            got[str(msg["To"].addresses[0].addr_spec)] += 1
        return got

    def count(self) -> int:
        return sum(1 for _ in self.mail.glob("*.eml"))

    def show(self, campaign_id: str) -> dict[str, object]:
        out: dict[str, object] = json.loads(
            self.cli("campaigns", "show", campaign_id, "--json").stdout
        )
        return out


@contextlib.contextmanager
def capture_server(port: int, outdir: Path) -> Iterator[None]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "campaignd.devtools.devsmtp",
            "--port",
            str(port),
            "--dir",
            str(outdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 15)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def make_env(tmp_path: Path, port: int, *, extra: str = "", **app: object) -> Env:
    mail = tmp_path / "mail"
    mail.mkdir()
    app = {"shutdown_grace": "20s", **app}
    app_lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in app.items())
    config = tmp_path / "settings.toml"
    config.write_text(
        f"""
[app]
from_email = "News <news@example.com>"
poll_interval = "100ms"
{app_lines}

[db]
url = "sqlite:///{tmp_path / "c.db"}"

[security]
secret = "0123456789abcdef0123456789abcdef"

[[smtp]]
host = "127.0.0.1"
port = {port}
tls_type = "none"
auth_protocol = "none"
max_conns = 10
{extra}
"""
    )
    config.chmod(0o600)
    env = {**os.environ, "CAMPAIGND_CONFIG": str(config)}
    return Env(tmp_path, mail, env)
