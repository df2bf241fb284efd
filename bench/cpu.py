"""Where the machine's CPU went during a phase: all cores (/proc/stat) and the sink's share.

On a 2-core machine the sender, the sink and the kernel's loopback work share the same cores,
so a rate alone does not say whether the sender or the machine ran out. `Meter` reads the busy
time of every core and of the sink process at the start and end of a phase.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds() -> tuple[float, float]:
    """(busy, stolen) seconds of all cores together since boot: busy = user, nice, system,
    irq and softirq; stolen = time the hypervisor gave to someone else (a noisy neighbour)."""
    with open("/proc/stat", encoding="ascii") as f:
        v = [int(x) for x in f.readline().split()[1:]] + [0] * 8
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / _TICK, v[7] / _TICK


def process_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            parts = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(parts[11]) + int(parts[12])) / _TICK  # utime + stime


@dataclass
class Meter:
    sink_pid: int
    _t0: float = 0.0
    _busy0: float = 0.0
    _steal0: float = 0.0
    _sink0: float = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._busy0, self._steal0 = _cpu_seconds()
        self._sink0 = process_seconds(self.sink_pid)

    def stop(self, messages: int) -> dict[str, float]:
        """Busy and stolen cores on average over the phase, and the sink's CPU per message."""
        wall = max(time.monotonic() - self._t0, 1e-9)
        busy, steal = _cpu_seconds()
        sink = process_seconds(self.sink_pid) - self._sink0
        return {
            "machine_busy_cores": round((busy - self._busy0) / wall, 2),
            "stolen_cores": round((steal - self._steal0) / wall, 2),
            "sink_cpu_us_per_msg": round(sink / max(messages, 1) * 1e6, 1),
        }
