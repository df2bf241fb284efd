"""DKIM signing in a process of its own, fed in batches by the sending process's event loop.

Why a process: in a thread the Python part of a signature (canonicalisation, hashing, folding,
~40 µs a message) holds the GIL against the event loop, and the hand-off to the thread costs
the loop about as much again (docs/performance.md, "DKIM signing"). Here the loop collects the
messages asked for during one turn into a batch and writes it, pickled, to the signer's pipe
(non-blocking: what the pipe does not take is written when it can); the signer process
canonicalises, hashes and signs on the other core and writes back only the DKIM-Signature
header of each message, batch by batch in order. No thread of the sending process is involved
(a concurrent.futures process pool's feeder and manager threads took the GIL from the loop).

A signer is `python -m <module>` (campaignd.rendering.dkim_signer), started at its first batch
and given the keys on its stdin, never in its arguments or environment; there are up to
`default_processes()` of them, a batch going to the one with the fewest out. If one dies, every
message of the batches it had fails with DkimSigningFailed (the messenger reports a transient
failure, so the recipient is retried like any other: never sent unsigned, never lost), and the
next batch starts a new one. Each exits when its stdin closes: with `close`, after
IDLE_SECONDS with nothing to sign, when the pool is garbage collected, or when the sending
process ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import weakref
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from campaignd.errors import DkimSigningFailed

log = logging.getLogger(__name__)

#: At most this many messages in one batch: a batch is signed before any answer goes back.
MAX_BATCH = 128
#: Batches handed over and not answered yet: one being signed, one waiting in the pipe, so the
#: signer never waits for the loop; more only adds latency (the loop batches while it waits).
MAX_IN_FLIGHT = 2
#: A signer process with nothing to sign for this long exits (a test send from the API, the
#: keys of before a reload); the next batch starts one again (~0.3 s of CPU).
IDLE_SECONDS = 60.0

_LENGTH = struct.Struct("!I")
_READ = 1 << 20


@dataclass(slots=True)
class _Batch:
    futures: list[asyncio.Future[object]] = field(default_factory=list)
    jobs: dict[Hashable, list[bytes]] = field(default_factory=dict)
    order: list[tuple[Hashable, int]] = field(default_factory=list)  # per future: job, index


def _frame(value: object) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


class _Child:
    """One signer process, its two pipes (non-blocking on our side) and its batches out."""

    def __init__(self, argv: Sequence[str], setup: bytes) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.wfd, self.rfd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self.wfd, False)
        os.set_blocking(self.rfd, False)
        self.unsent = bytearray(setup)
        self.received = bytearray()
        self.in_flight: deque[_Batch] = deque()  # answered in this order
        self.loop: asyncio.AbstractEventLoop | None = None  # reading/writing registered on
        self.reading = self.writing = False
        self.idle: asyncio.TimerHandle | None = None  # stops it after IDLE_SECONDS idle
        # Stops it when this object goes (the pool dropped, the interpreter exiting).
        self.stop = weakref.finalize(self, _stop, self.proc)

    def unregister(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        if self.loop is not None and not self.loop.is_closed():
            if self.reading:
                self.loop.remove_reader(self.rfd)
            if self.writing:
                self.loop.remove_writer(self.wfd)
        self.reading = self.writing = False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()
    try:
        proc.wait(timeout=2)  # it exits at the end of its stdin
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def default_processes() -> int:
    """Signer processes per sending process: one per core, at most 4. RSA-2048 costs more
    than the rest of a message (docs/performance.md): one signer would bound the rate."""
    return max(1, min(4, os.cpu_count() or 1))


class SignerPool:
    """Signer processes (each started at its first batch, again after it died); `signature`
    is called on the event loop. `module` is run with ``python -m``; it calls `serve`."""

    def __init__(self, module: str, setup: object, processes: int | None = None) -> None:
        self._argv = (sys.executable, "-m", module)
        self._setup = _frame(setup)
        self._slots: list[_Child | None] = [None] * (processes or default_processes())
        self._pending: _Batch | None = None
        self._scheduled = False
        self._closed = False
        self.batches = 0  # handed over so far, and their messages (docs/performance.md)
        self.messages = 0

    @property
    def pids(self) -> tuple[int, ...]:
        """The running signer processes' ids (none before the first batch)."""
        return tuple(c.proc.pid for c in self._slots if c is not None)

    def _free_slot(self) -> int | None:
        """The slot with the fewest batches out, if one may take another."""
        best, fewest = None, MAX_IN_FLIGHT
        for i, child in enumerate(self._slots):
            out = 0 if child is None else len(child.in_flight)
            if out < fewest:
                best, fewest = i, out
        return best

    async def signature(self, signer: Hashable, message: bytes) -> object:
        """What a signer process answers for `message` with the signer `signer`."""
        if self._closed:
            raise DkimSigningFailed("the DKIM signer is closed")
        loop = asyncio.get_running_loop()
        batch = self._pending
        if batch is None:
            batch = self._pending = _Batch()
        future: asyncio.Future[object] = loop.create_future()
        messages = batch.jobs.setdefault(signer, [])
        batch.order.append((signer, len(messages)))
        messages.append(message)
        batch.futures.append(future)
        if len(batch.futures) >= MAX_BATCH:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        slot = self._free_slot() if self._pending is not None else None
        if slot is None:
            return  # every process has its batches: this one goes when one is answered
        batch, self._pending = self._pending, None
        assert batch is not None
        child = self._slots[slot]
        if child is not None and child.proc.poll() is not None:  # died while idle
            self._lost(child, f"exited with {child.proc.returncode}")
            child = None
        if child is None:
            try:
                child = self._slots[slot] = _Child(self._argv, self._setup)
            except OSError as exc:
                _fail(batch, DkimSigningFailed(f"the DKIM signer cannot start: {exc}"))
                return
        child.in_flight.append(batch)
        self.batches += 1
        self.messages += len(batch.futures)
        child.unsent += _frame(list(batch.jobs.items()))
        loop = asyncio.get_running_loop()
        if child.loop is not loop and (child.reading or child.writing):
            self._lost(child, "used from another event loop")  # only tests switch loops
            return
        child.loop = loop
        if child.idle is not None:
            child.idle.cancel()
            child.idle = None
        if not child.reading:
            loop.add_reader(child.rfd, self._read, child)
            child.reading = True
        self._write(child)

    def _write(self, child: _Child) -> None:
        try:
            written = os.write(child.wfd, child.unsent) if child.unsent else 0
        except BlockingIOError:
            written = 0
        except OSError as exc:  # BrokenPipeError: it died
            self._lost(child, str(exc))
            return
        del child.unsent[:written]
        if child.loop is None:
            return
        if child.unsent and not child.writing:
            child.loop.add_writer(child.wfd, self._write, child)
            child.writing = True
        elif not child.unsent and child.writing:
            child.loop.remove_writer(child.wfd)
            child.writing = False

    def _read(self, child: _Child) -> None:
        try:
            data = os.read(child.rfd, _READ)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(child, str(exc))
            return
        if not data:
            self._lost(child, f"its output ended (exit status {child.proc.poll()})")
            return
        received = child.received
        received += data
        while len(received) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(received)
            if len(received) < _LENGTH.size + size:
                break
            frame = received[_LENGTH.size : _LENGTH.size + size]
            status, answer = pickle.loads(frame)  # noqa: S301 - our own child's private pipe
            del received[: _LENGTH.size + size]
            _answered(child.in_flight.popleft(), status, answer)
        if self._pending is not None and not self._scheduled:
            self._flush()
        if not child.in_flight and child.reading and child.loop is not None:
            child.loop.remove_reader(child.rfd)
            child.reading = False
            # Idle: only this timer holds the pool until it fires (then it can be collected).
            child.idle = child.loop.call_later(IDLE_SECONDS, self._idle, child)

    def _idle(self, child: _Child) -> None:
        child.idle = None
        if not child.in_flight and child in self._slots:
            self._slots[self._slots.index(child)] = None
            child.unregister()
            child.stop()

    def _lost(self, child: _Child, reason: str) -> None:
        """A process died (or must go): its batches fail, the next batch starts another."""
        for i, c in enumerate(self._slots):
            if c is child:
                self._slots[i] = None
        child.unregister()
        child.stop()
        lost, child.in_flight = child.in_flight, deque()
        if not self._closed:
            log.warning(
                "a DKIM signer process stopped (%s): the messages of its %d batch(es) are "
                "retried later; the next batch starts a new one",
                reason,
                len(lost),
                extra={"action": "dkim.signer_lost"},
            )
        for batch in lost:
            _fail(batch, DkimSigningFailed(f"the DKIM signer process stopped ({reason})"))

    def close(self) -> None:
        """Stop the signer processes; signatures not answered yet and later ones fail."""
        self._closed = True
        if self._pending is not None:
            _fail(self._pending, DkimSigningFailed("the DKIM signer is closed"))
            self._pending = None
        for child in list(self._slots):
            if child is not None:
                self._lost(child, "closed")


def _answered(batch: _Batch, status: str, answer: Any) -> None:
    if status != "ok":
        _fail(batch, DkimSigningFailed(f"the DKIM signer failed: {answer}"))
        return
    answers = dict(zip(batch.jobs, answer, strict=True))
    for future, (signer, i) in zip(batch.futures, batch.order, strict=True):
        if not future.done():  # its send may have been cancelled meanwhile
            future.set_result(answers[signer][i])


def _fail(batch: _Batch, exc: DkimSigningFailed) -> None:
    for future in batch.futures:
        if not future.done():
            future.set_exception(exc)


# -- in the signer process ---------------------------------------------------------------------
def serve(
    load: Callable[[Any], None], work: Callable[[Sequence[tuple[Any, list[bytes]]]], Any]
) -> None:
    """The signer process's loop: `load` the first frame of stdin (the keys), then answer each
    batch frame with ("ok", work(batch)) or ("error", text), until stdin ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides; it closes our stdin
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = os.dup(1)
    os.dup2(2, 1)  # a stray print must not corrupt the answers
    source = sys.stdin.buffer
    first = _read_frame(source)
    if first is None:
        return
    load(pickle.loads(first))  # noqa: S301 - from our parent, on a private pipe
    while (frame := _read_frame(source)) is not None:
        try:
            answer: tuple[str, Any] = ("ok", work(pickle.loads(frame)))  # noqa: S301 - as above
        except Exception as exc:  # a bug: that batch fails, the next ones are signed
            answer = ("error", f"{type(exc).__name__}: {exc}")
        data = memoryview(_frame(answer))
        while data:
            data = data[os.write(out, data) :]


def _read_frame(source: Any) -> bytes | None:
    head = source.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data: bytes = source.read(size)
    return data if len(data) == size else None
