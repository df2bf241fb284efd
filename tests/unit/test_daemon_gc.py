"""`campaignd run` freezes its start-up heap (gc.freeze); daemons inside a test process do not."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import asyncio, gc, sys
from pydantic import SecretStr
from campaignd.config import AppSettings, SecuritySettings, Settings
from campaignd.daemon.service import Daemon
from campaignd.store.memory import MemoryStore

Daemon.freeze_heap = sys.argv[1] == "on"
secret = SecuritySettings(secret=SecretStr("s" * 32))
cfg = Settings(app=AppSettings(poll_interval=0.02), security=secret)
assert asyncio.run(Daemon(cfg, until_idle=True, store=MemoryStore()).run()) == 0
print(gc.get_freeze_count())
"""


@pytest.mark.parametrize(("flag", "frozen"), [("on", True), ("off", False)])
def test_the_daemon_process_freezes_what_it_built_at_start(flag: str, frozen: bool) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, flag],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    count = int(done.stdout.strip().splitlines()[-1])
    # Frozen: the modules, the store and the settings, tens of thousands of objects.
    assert (count > 10_000) is frozen
