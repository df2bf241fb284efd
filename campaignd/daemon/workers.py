"""`app.workers`: send from several processes, each a daemon with its own share and owner id.

`campaignd run` with ``workers = N`` starts N-1 worker processes (``campaignd run --worker I``)
next to itself. They claim from the same ledger (claims are exclusive on SQLite and
PostgreSQL), each under its own owner id ``<instance_id>/w<I>``, so a restart recovers exactly
its own claims. Every daemon-wide promise is split among the processes, so together they keep
it: ``app.concurrency`` (and with it the crash-duplicate bound), ``app.message_rate``, the
sliding window, each SMTP server's ``max_conns`` and ``max_rate``, and each [[domain_limits]]
entry's ``max_rate`` and ``max_in_flight`` (at least 1 each). Only the main process
serves ``[http]``, ``[api]`` and ``[inbound]`` (one listening port each); its /metrics adds
the workers' samples, which they write to a private folder the main process makes
(campaignd.http.shared_metrics). SIGTERM/SIGINT and SIGHUP are passed
on to the workers; a worker dies with the main process (Linux parent-death signal), so a crash
of the main never leaves a worker sending behind a restarted daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from campaignd.config import Settings
from campaignd.daemon.service import Daemon
from campaignd.http.shared_metrics import publish

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_SYSTEMD_ONLY = frozenset({"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"})


def _part(total: int, index: int, count: int) -> int:
    """Worker `index`'s share of `total` whole units (the first ones get the remainder)."""
    return total // count + (1 if index < total % count else 0)


def share(settings: Settings, index: int, count: int) -> Settings:
    """The settings of process `index` (0 = main) of `count`: its part of every shared limit."""
    if count <= 1:
        return settings
    app = settings.app
    base = app.instance_id or socket.gethostname()
    app = app.model_copy(
        update={
            "workers": count,
            "instance_id": base if index == 0 else f"{base}/w{index}",
            "concurrency": max(1, _part(app.concurrency, index, count)),
            "message_rate": app.message_rate / count,
            "sliding_window_rate": max(1, _part(app.sliding_window_rate, index, count)),
        }
    )
    smtp = tuple(
        s.model_copy(
            update={
                "max_conns": max(1, _part(s.max_conns, index, count)),
                "max_rate": s.max_rate / count,
            }
        )
        for s in settings.smtp
    )
    limits = tuple(
        d.model_copy(
            update={
                "max_rate": d.max_rate / count if d.max_rate is not None else None,
                "max_in_flight": (
                    max(1, _part(d.max_in_flight, index, count))
                    if d.max_in_flight is not None
                    else None
                ),
            }
        )
        for d in settings.domain_limits
    )
    update: dict[str, object] = {"app": app, "smtp": smtp, "domain_limits": limits}
    if index:
        update["http"] = settings.http.model_copy(update={"enabled": False})
        update["inbound"] = settings.inbound.model_copy(update={"enabled": False})
        update["api"] = settings.api.model_copy(update={"enabled": False})
        update["mailbox"] = ()  # scanned by the main process only
    return settings.model_copy(update=update)


def die_with_parent(parent: int) -> None:
    """In a worker: be killed when the main process dies (Linux); exit if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        raise SystemExit(1)


class WorkerPool:
    """The main process's N-1 worker processes."""

    def __init__(self, count: int, config_path: Path | None, until_idle: bool) -> None:
        self.count = count
        self._config_path = config_path
        self._until_idle = until_idle
        self._procs: list[asyncio.subprocess.Process] = []
        self._terminated = False
        self.metrics_dir: Path | None = None

    async def start(self) -> None:
        self.metrics_dir = Path(tempfile.mkdtemp(prefix="campaignd-metrics-"))
        args = [sys.executable, "-m", "campaignd"]
        if self._config_path is not None:
            args += ["--config", str(self._config_path)]
        # systemd hears from the main process only (NotifyAccess=main).
        env = {k: v for k, v in os.environ.items() if k not in _SYSTEMD_ONLY}
        for index in range(1, self.count):
            worker = [*args, "run", "--worker", f"{index}:{os.getpid()}"]
            worker += ["--metrics-dir", str(self.metrics_dir)]
            if self._until_idle:
                worker.append("--until-idle")
            self._procs.append(await asyncio.create_subprocess_exec(*worker, env=env))
        log.info(
            "started %d worker processes (%s)",
            len(self._procs),
            ", ".join(str(p.pid) for p in self._procs),
            extra={"action": "workers.started"},
        )

    def signal(self, signum: int) -> None:
        """Pass a signal on; SIGTERM only once (a second one would stop a worker at once)."""
        if signum == signal.SIGTERM:
            if self._terminated:
                return
            self._terminated = True
        for proc in self._procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)

    async def wait(self) -> int:
        """Wait for every worker; the worst exit code."""
        try:
            codes = [await proc.wait() for proc in self._procs]
        finally:
            if self.metrics_dir is not None:
                shutil.rmtree(self.metrics_dir, ignore_errors=True)
        bad = [c for c in codes if c]
        if bad:
            log.warning("workers exited with %s", bad, extra={"action": "workers.exited"})
        return max(codes, default=0, key=abs)


class SharedDaemon(Daemon):
    """A daemon that is process `index` of `count`: it keeps its share of the settings across
    reloads; the main one (with a pool) passes SIGHUP on to its workers."""

    def __init__(
        self,
        settings: Settings,
        *,
        index: int,
        count: int,
        pool: WorkerPool | None = None,
        config_path: Path | None = None,
        until_idle: bool = False,
        metrics_dir: Path | None = None,  # a worker's: where the main process reads its metrics
    ) -> None:
        super().__init__(
            share(settings, index, count), config_path=config_path, until_idle=until_idle
        )
        self.index = index
        self.count = count
        self.pool = pool
        self.metrics_dir = metrics_dir

    def started(self) -> None:
        extras = self.extras
        if extras is None:
            return
        if self.pool is not None:  # the main process: /metrics adds the workers' samples
            extras.metrics.workers_dir = self.pool.metrics_dir
        elif self.metrics_dir is not None:
            path = self.metrics_dir / f"worker-{self.index}.json"
            self._spawn(publish(path, extras.metrics.registry), "metrics-publish")

    def load_settings(self) -> Settings:
        return share(super().load_settings(), self.index, self.count)

    def reload(self) -> None:
        super().reload()
        if self.pool is not None:
            self.pool.signal(signal.SIGHUP)


async def supervise(daemon: SharedDaemon) -> int:
    """Run the main daemon with its workers; stop them with it; the worst exit code."""
    pool = daemon.pool
    assert pool is not None
    await pool.start()

    async def forward_stop() -> None:
        await daemon.stopping.wait()
        if not daemon.idle.is_set():  # a signal or an error, not --until-idle running out
            pool.signal(signal.SIGTERM)

    forward = asyncio.create_task(forward_stop(), name="workers-stop")
    try:
        code = await daemon.run()
    finally:
        if not daemon.idle.is_set():
            pool.signal(signal.SIGTERM)
        workers = await pool.wait()
        forward.cancel()
        await asyncio.gather(forward, return_exceptions=True)
    return code or workers
