"""DKIM signing in a process of its own, fed in batches by the sending process's event loop.

Why a process: in a thread the Python part of a signature (canonicalisation, hashing, folding,
~40 µs a message) holds the GIL against the event loop, and the hand-off to the thread costs
the loop about as much again (docs/performance.md, "DKIM signing"). Here the loop only collects
the messages asked for during one turn into a batch and hands the batch over (one pickle, one
pipe write); the signer process canonicalises, hashes and signs, on the other core, and sends
back only the DKIM-Signature header of each message.

The pool is generic: campaignd.rendering.dkim gives it the function that loads the keys in the
process (once, when it starts: spawned, not forked, as the daemon has threads) and the one that
signs a batch. If the process dies or the batch fails, every message of the batch fails with
DkimSigningFailed (the messenger reports a transient failure, so the recipient is retried like
any other: never sent unsigned, never lost), and the next batch starts a new process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from campaignd.errors import DkimSigningFailed

log = logging.getLogger(__name__)

#: At most this many messages in one hand-over: a batch is signed before any answer goes back.
MAX_BATCH = 128
#: Batches handed over and not answered yet: one being signed, one waiting in the pipe, so the
#: signer never waits for the loop; more only adds latency (the loop batches while it waits).
MAX_IN_FLIGHT = 2

#: Signs one batch in the signer process: [(signer id, [message, ...]), ...] -> the answers in
#: the same order. A module-level function (it is pickled by name).
BatchWork = Callable[[Sequence[tuple[Any, list[bytes]]]], list[list[bytes]]]


@dataclass(slots=True)
class _Batch:
    futures: list[asyncio.Future[bytes]] = field(default_factory=list)
    jobs: dict[Hashable, list[bytes]] = field(default_factory=dict)
    order: list[tuple[Hashable, int]] = field(default_factory=list)  # per future: job, index


class SignerPool:
    """One signer process (started at the first signature, again after a failure);
    `signature` is called on the event loop."""

    def __init__(
        self, work: BatchWork, initializer: Callable[..., None], initargs: tuple[Any, ...]
    ) -> None:
        self._work = work
        self._initializer = initializer
        self._initargs = initargs
        self._executor: ProcessPoolExecutor | None = None
        self._pending: _Batch | None = None
        self._scheduled = False
        self._in_flight = 0
        self._closed = False

    async def signature(self, signer: Hashable, message: bytes) -> bytes:
        """What the process's `work` answers for `message` with the signer `signer`."""
        if self._closed:
            raise DkimSigningFailed("the DKIM signer is closed")
        loop = asyncio.get_running_loop()
        batch = self._pending
        if batch is None:
            batch = self._pending = _Batch()
        future: asyncio.Future[bytes] = loop.create_future()
        messages = batch.jobs.setdefault(signer, [])
        batch.order.append((signer, len(messages)))
        messages.append(message)
        batch.futures.append(future)
        if len(batch.futures) >= MAX_BATCH and self._in_flight < MAX_IN_FLIGHT:
            self._flush()
        elif not self._scheduled and self._in_flight < MAX_IN_FLIGHT:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, None
        if batch is None or self._closed:
            if batch is not None:
                _fail(batch, DkimSigningFailed("the DKIM signer is closed"))
            return
        try:
            done = self._start().submit(self._work, list(batch.jobs.items()))
        except (BrokenProcessPool, RuntimeError) as exc:  # died since the last batch
            self._lost(exc)
            _fail(batch, DkimSigningFailed(f"the DKIM signer process failed: {exc}"))
            return
        self._in_flight += 1
        asyncio.wrap_future(done).add_done_callback(lambda f: self._answered(batch, f))

    def _answered(self, batch: _Batch, done: asyncio.Future[list[list[bytes]]]) -> None:
        self._in_flight -= 1
        exc = None if done.cancelled() else done.exception()
        if done.cancelled() or exc is not None:
            if isinstance(exc, BrokenProcessPool) or done.cancelled():
                self._lost(exc)
            _fail(batch, DkimSigningFailed(f"the DKIM signer process failed: {exc!r}"))
        else:
            answers = dict(zip(batch.jobs, done.result(), strict=True))
            for future, (signer, i) in zip(batch.futures, batch.order, strict=True):
                if not future.done():  # its send may have been cancelled meanwhile
                    future.set_result(answers[signer][i])
        if self._pending is not None and not self._scheduled:
            self._flush()

    def _start(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=self._initializer,
                initargs=self._initargs,
            )
        return self._executor

    def _lost(self, exc: BaseException | None) -> None:
        """The process died: the next batch starts another (its batches already failed)."""
        if self._executor is not None:
            log.warning(
                "the DKIM signer process failed (%s); its messages are retried, a new one starts",
                exc,
                extra={"action": "dkim.signer_lost"},
            )
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    @property
    def pids(self) -> tuple[int, ...]:
        """The signer processes' ids (none before the first signature)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return tuple(processes)

    def close(self) -> None:
        """Stop the signer process; later signatures fail (the messages are retried)."""
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def _fail(batch: _Batch, exc: DkimSigningFailed) -> None:
    for future in batch.futures:
        if not future.done():
            future.set_exception(exc)
