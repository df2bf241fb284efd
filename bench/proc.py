"""Child processes measured by the benchmark: wall time, exit code and peak RSS (wait4)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Finished:
    code: int
    seconds: float
    peak_rss_mb: float  # the largest peak (VmHWM) of the process and its descendants
    total_rss_mb: float  # the largest sum of their RSS at one moment
    cpu_seconds: float  # user + system time of the process and its waited-for children
    stdout: str
    log: Path


class Child:
    """A `campaignd` subprocess whose stdout and stderr go to files in `workdir`."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        args: list[str],
        env: dict[str, str],
        prefix: tuple[str, ...] = (),
    ) -> None:
        self.log = workdir / f"{name}.log"
        self._out_path = workdir / f"{name}.out"
        self._out = self._out_path.open("wb")
        self._err = self.log.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
        )
        self._pos = 0
        self._wrapped = bool(prefix)
        self._peaks: dict[int, int] = {}
        self._total = 0
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        """Poll /proc for the tree's memory. (wait4's ru_maxrss is useless here: a child
        started by vfork/exec inherits the parent's high-water mark.)"""
        while not self._done.is_set():
            total = 0
            for pid in _tree(self.proc.pid):
                hwm, rss = _memory(pid)
                total += rss
                if hwm > self._peaks.get(pid, 0):
                    self._peaks[pid] = hwm
            self._total = max(self._total, total)
            self._done.wait(0.1)

    def new_log_lines(self) -> list[str]:
        """Log lines written since the last call."""
        with self.log.open("rb") as f:
            f.seek(self._pos)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._pos += end
        return data[:end].decode("utf-8", "replace").splitlines()

    def wait_for_line(self, needle: str, timeout: float) -> str:
        """The first new log line containing `needle`; SystemExit on exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.new_log_lines():
                if needle in line:
                    return line
            if self.proc.poll() is not None:
                tail = self.log.read_text("utf-8", "replace")[-2000:]
                raise SystemExit(
                    f"bench: {self.log.name} exited early ({self.proc.returncode}):\n{tail}"
                )
            if time.monotonic() > deadline:
                self.terminate()
                raise SystemExit(f"bench: no {needle!r} in {self.log.name} within {timeout:.0f}s")
            time.sleep(0.05)

    def terminate(self) -> None:
        """SIGTERM to the process (to the process under a profiler, which then writes out)."""
        if self.proc.poll() is not None:
            return
        targets = _tree(self.proc.pid)[1:2] if self._wrapped else [self.proc.pid]
        for pid in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def wait(self, timeout: float) -> Finished:
        """Reap the child with wait4 (for its rusage); kill it after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        killed = False
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline and not killed:
                self.proc.kill()
                killed = True
            time.sleep(0.02)
        self._done.set()
        self._sampler.join()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - self.started
        self._out.close()
        self._err.close()
        stdout = self._out_path.read_text("utf-8", "replace")
        code = -9 if killed else self.proc.returncode
        peak = max(self._peaks.values(), default=0) / 1024
        cpu = usage.ru_utime + usage.ru_stime
        return Finished(code, seconds, peak, self._total / 1024, cpu, stdout, self.log)


def wait_for_any_line(children: list[Child], needle: str, timeout: float) -> str:
    """The first new log line containing `needle` in any of `children`'s logs."""
    deadline = time.monotonic() + timeout
    while True:
        for child in children:
            for line in child.new_log_lines():
                if needle in line:
                    return line
            if child.proc.poll() is not None:
                tail = child.log.read_text("utf-8", "replace")[-2000:]
                code = child.proc.returncode
                raise SystemExit(f"bench: {child.log.name} exited early ({code}):\n{tail}")
        if time.monotonic() > deadline:
            for child in children:
                child.terminate()
            raise SystemExit(f"bench: no {needle!r} in any daemon's log within {timeout:.0f}s")
        time.sleep(0.05)


def run(workdir: Path, name: str, args: list[str], env: dict[str, str], timeout: float) -> Finished:
    """Run a child to completion; SystemExit with its log's tail if it fails."""
    result = Child(workdir, name, args, env).wait(timeout)
    if result.code != 0:
        tail = result.log.read_text("utf-8", "replace")[-3000:]
        raise SystemExit(f"bench: `{' '.join(args)}` failed ({result.code}):\n{tail}")
    return result


def _tree(pid: int) -> list[int]:
    """pid and its descendants, from /proc/PID/task/TID/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
    return out


def _memory(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in KiB, zeros once the process is gone."""
    hwm = rss = 0
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
                break
    return hwm, rss
