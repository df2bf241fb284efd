"""`make demo`: the whole main job on SQLite, against two local capture SMTP servers.

It runs the same commands an operator types (each printed before it runs), in a fresh `.demo/`
folder: database, lists, a CSV import with a few bad rows, a layout, a Markdown campaign sent
through the round-robin pool by `campaignd run --until-idle`, and where to look afterwards. It
ends by printing the dashboard's URL and how to log in; run in a terminal (stdin a TTY) it then
keeps `campaignd run` serving the dashboard until Ctrl-C, otherwise (CI, pipes) it exits.
DEMO_SERVE overrides that: "yes" (until Ctrl-C), "no", or a number of seconds.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from campaignd.devtools.devsmtp import free_port, wait_for_port

#: The sample subscribers, layout and newsletter, shipped in the package (campaignd/samples/).
SAMPLES = Path(__file__).resolve().parent / "samples"
#: Overrides whether the demo keeps serving the dashboard (see serve_for).
SERVE_ENV = "DEMO_SERVE"


def serve_for(stdin_is_tty: bool, value: str | None) -> float | None:
    """How long to keep serving the dashboard after the demo: None not at all, math.inf until
    Ctrl-C. Unset, only a terminal keeps it (`make demo` in CI or a pipe ends as before)."""
    if value is None or not value.strip():
        return math.inf if stdin_is_tty else None
    text = value.strip().lower()
    if text in {"yes", "true", "forever"}:
        return math.inf
    if text in {"no", "false", "0"}:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < math.inf:
        raise SystemExit(f"demo: {SERVE_ENV} must be yes, no or a number of seconds, got {value!r}")
    return seconds


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
            ],
            process_group=0,  # Ctrl-C reaches the demo only, which stops them in order
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


def _write_settings(root: Path, ports: list[int], api_port: int) -> Path:
    """settings.toml for the demo: SQLite in `root`, the capture servers on `ports`, the admin
    API and dashboard on `api_port`."""
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

# The admin API and the dashboard (log in with an API token; the secret signs the cookie).
[api]
enabled = true
listen = "127.0.0.1:{api_port}"

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


def _commands(env: dict[str, str], root: Path) -> str:
    """What an operator types: set up, import, write a campaign, send it, look at it; returns
    the read-only API token made for the dashboard."""
    _campaignd(env, "db", "upgrade")
    token = _campaignd(env, "api-tokens", "create", "demo", "--read-only", capture=True).strip()
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
    return token


def _serve(env: dict[str, str], port: int, seconds: float) -> None:
    """`campaignd run` serving the dashboard for `seconds` (math.inf: until Ctrl-C)."""
    print("\n$ campaignd run", flush=True)
    daemon = subprocess.Popen([sys.executable, "-m", "campaignd", "run"], env=env, process_group=0)
    try:
        if not wait_for_port(port, timeout=30):
            raise SystemExit(f"demo: the daemon did not listen on 127.0.0.1:{port}")
        until = "until Ctrl-C" if math.isinf(seconds) else f"for {seconds:g} s"
        print(f"Serving the dashboard {until}.", flush=True)
        try:
            daemon.wait(timeout=None if math.isinf(seconds) else seconds)
            raise SystemExit(f"demo: the daemon stopped by itself ({daemon.returncode})")
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt:
            print("\nStopping the daemon.", flush=True)
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    seconds = serve_for(sys.stdin.isatty(), os.environ.get(SERVE_ENV))
    # The servers and the daemon run in process groups of their own (Ctrl-C reaches the demo
    # alone): a closed terminal or a kill must stop them too, through the same clean-up.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        _demo(seconds)
    except KeyboardInterrupt:
        raise SystemExit("demo: interrupted") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _demo(seconds: float | None) -> None:
    root = Path(".demo").resolve()
    shutil.rmtree(root, ignore_errors=True)
    mail = root / "mail"
    mail.mkdir(parents=True)
    ports = [free_port(), free_port()]
    api_port = free_port()
    config = _write_settings(root, ports, api_port)
    env = {**os.environ, "CAMPAIGND_CONFIG": str(config)}
    with _capture_servers(ports, mail):
        token = _commands(env, root)
        files = sorted(mail.glob("*.eml"))
        if not files:
            raise SystemExit("demo: no message was captured")
        url = f"http://127.0.0.1:{api_port}/dashboard"
        serve = f"CAMPAIGND_CONFIG={config} .venv/bin/campaignd run"
        print(
            f"""
Demo finished: {len(files)} messages captured in {mail}/ (one .eml file each).
- Open one:               less {files[0]}
- Rejected import rows:   {root / "import-errors.csv"}
- The settings it used:   {config}
- Try more commands:      CAMPAIGND_CONFIG={config} .venv/bin/campaignd --help
- The dashboard:          {url}
  log in with the read-only API token {token}
  {"(served below)" if seconds else f"(serve it with: {serve})"}
""",
            flush=True,
        )
        if seconds:
            _serve(env, api_port, seconds)


if __name__ == "__main__":
    main()
