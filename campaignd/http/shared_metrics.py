"""/metrics with ``app.workers > 1``: the workers' samples, added to the main process's.

Only the main process serves ``[http]``. Each worker writes its metric samples to
``<dir>/worker-<index>.json`` every ``SNAPSHOT_EVERY`` seconds and once more when it stops
(a temporary file renamed over the old one, so a reader never sees half a file). The main
process's /metrics adds every worker file to its own samples: counters, histogram buckets,
sums and counts, and the in-flight gauge are sums over the processes. Series only a worker
has are added as they are. ``*_created`` timestamps are not summed (the main's is kept), and
``campaignd_campaigns`` is the main's alone (it reads it from the database at each scrape).

The directory is made by the main process (``tempfile.mkdtemp``: mode 0700, a fresh name) and
removed when its workers have stopped. Counters of a worker that was restarted start again
from zero, which Prometheus's ``rate()`` reads as a counter reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from prometheus_client.core import Metric

log = logging.getLogger(__name__)

SNAPSHOT_EVERY = 1.0
_MAIN_ONLY = frozenset({"campaignd_campaigns"})
_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")

Key = tuple[str, tuple[tuple[str, str], ...]]  # sample name, sorted labels


class Collects(Protocol):
    def collect(self) -> Iterable[Metric]: ...


def samples(registry: Collects) -> list[tuple[str, dict[str, str], float]]:
    """Every sample a worker shares: (sample name, labels, value)."""
    return [
        (s.name, dict(s.labels), float(s.value))
        for family in registry.collect()
        if family.name not in _MAIN_ONLY
        for s in family.samples
    ]


def write_snapshot(path: Path, registry: Collects) -> None:
    """Replace `path` with the registry's samples, atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(samples(registry)), encoding="utf-8")
    os.replace(tmp, path)


def read_snapshots(directory: Path) -> dict[Key, float]:
    """The workers' samples summed by (name, labels); ``*_created``: the earliest.

    A file that cannot be read or parsed (a worker that never wrote one, a foreign file) is
    left out rather than failing the scrape.
    """
    total: dict[Key, float] = {}
    for path in sorted(directory.glob("worker-*.json")):
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
            parsed = [
                (str(n), {str(k): str(v) for k, v in lab.items()}, float(value))
                for n, lab, value in rows
            ]
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring %s: %s", path, exc, extra={"action": "metrics.snapshot_bad"})
            continue
        for name, labels, value in parsed:
            key = (name, tuple(sorted(labels.items())))
            if name.endswith("_created"):
                total[key] = min(total.get(key, value), value)
            else:
                total[key] = total.get(key, 0.0) + value
    return total


def _family_of(name: str, families: dict[str, Metric]) -> Metric | None:
    for suffix in _SUFFIXES:
        if suffix and not name.endswith(suffix):
            continue
        family = families.get(name[: len(name) - len(suffix)] if suffix else name)
        if family is not None:
            return family
    return None


class MergedRegistry:
    """What generate_latest reads on the main process: its registry plus the workers'."""

    def __init__(self, registry: Collects, directory: Path) -> None:
        self._registry = registry
        self._directory = directory

    def collect(self) -> Iterator[Metric]:
        extra = read_snapshots(self._directory)
        merged: dict[str, Metric] = {}
        for family in self._registry.collect():
            out = Metric(family.name, family.documentation, family.type, family.unit)
            for s in family.samples:
                value = s.value
                if family.name not in _MAIN_ONLY:
                    key = (s.name, tuple(sorted(s.labels.items())))
                    more = extra.pop(key, None)
                    if more is not None and not s.name.endswith("_created"):
                        value += more
                out.add_sample(s.name, s.labels, value, s.timestamp, s.exemplar)
            merged[family.name] = out
        for (name, labels), value in extra.items():  # series only workers have
            owner = _family_of(name, merged)
            if owner is not None and owner.name not in _MAIN_ONLY:
                owner.add_sample(name, dict(labels), value)
        yield from merged.values()


async def publish(path: Path, registry: Collects, every: float = SNAPSHOT_EVERY) -> None:
    """A worker's task: write snapshots until cancelled, then a last one."""
    try:
        while True:
            _write_quietly(path, registry)
            await asyncio.sleep(every)
    finally:
        _write_quietly(path, registry)


def _write_quietly(path: Path, registry: Collects) -> None:
    try:
        write_snapshot(path, registry)
    except OSError as exc:  # the main process removed the folder, or the disk is full
        with contextlib.suppress(Exception):
            log.warning("cannot write metrics for the main process: %s", exc)
