"""`make demo`: the whole main job on SQLite, against two local capture SMTP servers.

It runs the same commands an operator types (each printed before it runs), in a fresh `.demo/`
folder: database, lists, a CSV import with a few bad rows, a layout, a Markdown campaign sent
through the round-robin pool by `campaignd run --until-idle`, and where to look afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from campaignd.devtools.devsmtp import free_port, wait_for_port

#: The sample subscribers, layout and newsletter, shipped in the package (campaignd/samples/).
SAMPLES = Path(__file__).resolve().parent / "samples"


@contextlib.contextmanager
def _capture_servers(ports: list[int], outdir: Path) -> Iterator[None]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "campaignd.devtools.devsmtp",
                "--port",
                str(p),
                "--dir",
                str(outdir),
            ]
        )
        for p in ports
    ]
    try:
        for p in ports:
            if not wait_for_port(p):
                raise SystemExit(f"demo: the capture SMTP server on port {p} did not start")
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


def _campaignd(env: dict[str, str], *args: str, capture: bool = False) -> str:
    print(f"\n$ campaignd {shlex.join(args)}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "campaignd", *args],
        env=env,
        check=False,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    if result.returncode != 0:
        raise SystemExit(f"demo: `campaignd {shlex.join(args)}` failed ({result.returncode})")
    if capture:
        print(result.stdout, end="")
        return result.stdout
    return ""


def _write_settings(root: Path, ports: list[int]) -> Path:
    """settings.toml for the demo: SQLite in `root`, the capture servers on `ports`."""
    config = root / "settings.toml"
    config.write_text(
        f"""# Written by `make demo`.
[app]
root_url = "http://localhost:9000"
from_email = "Demo Newsletter <news@demo.example>"
message_rate = 200
concurrency = 10
poll_interval = "200ms"

[db]
url = "sqlite:///{root / "campaignd.db"}"

[security]
secret = "{secrets.token_urlsafe(32)}"

[log]
level = "INFO"

# Two unnamed servers: the round-robin pool `email`.
[[smtp]]
host = "127.0.0.1"
port = {ports[0]}
tls_type = "none"
auth_protocol = "none"

[[smtp]]
host = "127.0.0.1"
port = {ports[1]}
tls_type = "none"
auth_protocol = "none"
""",
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def _commands(env: dict[str, str], root: Path) -> None:
    """What an operator types: set up, import, write a campaign, send it, look at it."""
    _campaignd(env, "db", "upgrade")
    _campaignd(env, "lists", "create", "newsletter", "--description", "Monthly news")
    _campaignd(env, "lists", "create", "vip", "--optin", "double")
    _campaignd(
        env,
        "subscribers",
        "import",
        str(SAMPLES / "subscribers.csv"),
        "--list",
        "newsletter",
        "--status",
        "confirmed",
        "--errors-file",
        str(root / "import-errors.csv"),
    )
    _campaignd(env, "subscribers", "add", "pending@demo.example", "--list", "vip")
    _campaignd(env, "lists", "ls")
    _campaignd(env, "templates", "add", "house", "--file", str(SAMPLES / "layout.html"))
    campaign_id = _campaignd(
        env,
        "campaigns",
        "create",
        "--name",
        "November news",
        "--subject",
        "News for {{ subscriber.first_name or subscriber.name }}",
        "--list",
        "newsletter",
        "--list",
        "vip",
        "--body-file",
        str(SAMPLES / "newsletter.md"),
        "--content-type",
        "markdown",
        "--template",
        "house",
        "--header",
        "X-Demo-Tag: {{ campaign.name }}",
        capture=True,
    ).strip()
    _campaignd(env, "campaigns", "start", campaign_id)
    _campaignd(env, "run", "--until-idle")
    _campaignd(env, "campaigns", "show", campaign_id)
    _campaignd(env, "campaigns", "failures", campaign_id)


def main() -> None:
    root = Path(".demo").resolve()
    shutil.rmtree(root, ignore_errors=True)
    mail = root / "mail"
    mail.mkdir(parents=True)
    ports = [free_port(), free_port()]
    config = _write_settings(root, ports)
    with _capture_servers(ports, mail):
        _commands({**os.environ, "CAMPAIGND_CONFIG": str(config)}, root)
    files = sorted(mail.glob("*.eml"))
    print(
        f"""
Demo finished: {len(files)} messages captured in {mail}/ (one .eml file each).
- Open one:               less {files[0] if files else mail}
- Rejected import rows:   {root / "import-errors.csv"}
- The settings it used:   {config}
- Try more commands:      CAMPAIGND_CONFIG={config} .venv/bin/campaignd --help
"""
    )
    if not files:
        raise SystemExit("demo: no message was captured")


if __name__ == "__main__":
    main()
