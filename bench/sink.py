"""Postfix's smtp-sink for the benchmark: installed when missing, started and stopped here."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

from campaignd.devtools.devsmtp import free_port, wait_for_port

__all__ = ["ensure_sink", "free_port", "running_sink"]

_CANDIDATES = ("smtp-sink", "/usr/sbin/smtp-sink", "/usr/lib/postfix/sbin/smtp-sink")


def _find() -> str | None:
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_sink() -> str:
    """The smtp-sink binary; install Debian's postfix package (unconfigured) if it is missing."""
    path = _find()
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit(
            "bench: Postfix's smtp-sink is missing and cannot be installed here (needs root and "
            "apt-get). Install it as root with:\n"
            '  echo "postfix postfix/main_mailer_type select No configuration" '
            "| debconf-set-selections\n"
            "  DEBIAN_FRONTEND=noninteractive apt-get install -y postfix"
        )
    print("bench: installing Postfix (for smtp-sink), unconfigured ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        ["debconf-set-selections"],
        input="postfix postfix/main_mailer_type select No configuration\n",
        text=True,
        check=True,
    )
    install = ["apt-get", "install", "-y", "--no-install-recommends", "postfix"]
    if subprocess.run(install, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
    path = _find()
    if not path:
        raise SystemExit("bench: postfix was installed but smtp-sink is still not found")
    return path


@contextlib.contextmanager
def running_sink(binary: str, port: int) -> Iterator[int]:
    """smtp-sink on 127.0.0.1:port with a backlog of 1000, stopped on exit; yields its pid."""
    args = [binary]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]
    args += [f"127.0.0.1:{port}", "1000"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_for_port(port):
            raise SystemExit(f"bench: smtp-sink did not listen on 127.0.0.1:{port}")
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
