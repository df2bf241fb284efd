"""How the daemon stops: the drain within shutdown_grace, the last commits, closing messengers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence

from campaignd.messengers.protocol import Messenger
from campaignd.sending.engine import Engine

log = logging.getLogger(__name__)

#: How long a forced stop waits for the recorder's last commit.
RECORDER_FORCED_WAIT = 5.0


async def drain(
    engine: Engine,
    runners: Sequence[asyncio.Task[None]],
    recorder: asyncio.Task[None],
    forced: asyncio.Event,
    grace: float,
) -> int:
    """Let in-flight sends finish within the grace period (a second signal cuts it short),
    record them, then stop the recorder. Returns the exit code: 1 when sends were cut off."""
    tasks = list(runners)
    code = 0
    if tasks:
        log.info(
            "waiting up to %.0fs for %d messages in flight",
            grace,
            engine.in_flight,
            extra={"action": "daemon.draining"},
        )
        if not await _wait_done(tasks, forced, grace):
            log.warning(
                "stopping with %d messages in flight; their recipients are recovered at the "
                "next start",
                engine.in_flight,
                extra={"action": "daemon.forced"},
            )
            code = 1
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    engine.recorder.close()
    if code == 0:
        await recorder
    else:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(recorder, RECORDER_FORCED_WAIT)
    return code


async def _wait_done(tasks: list[asyncio.Task[None]], forced: asyncio.Event, grace: float) -> bool:
    """Wait for every task while each grace period sees one finish; False when cut off."""
    force = asyncio.ensure_future(forced.wait())
    done, _ = await asyncio.wait(
        [*tasks, force], timeout=grace, return_when=asyncio.FIRST_COMPLETED
    )
    while not force.done() and not all(t.done() for t in tasks) and done:
        done, _ = await asyncio.wait(
            [*[t for t in tasks if not t.done()], force],
            timeout=grace,
            return_when=asyncio.FIRST_COMPLETED,
        )
    force.cancel()
    return all(t.done() for t in tasks)


async def close_messengers(messengers: Mapping[str, Messenger]) -> None:
    """Close each messenger once (several names may share one), ignoring their errors."""
    for messenger in {id(m): m for m in messengers.values()}.values():
        with contextlib.suppress(Exception):
            await messenger.close()


async def wait_any(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
