"""Signal handling for the daemon: graceful stop, forced stop, reload; restores old handlers."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


@contextmanager
def install(
    loop: asyncio.AbstractEventLoop,
    *,
    on_stop: Callable[[], None],
    on_force: Callable[[], None],
    on_reload: Callable[[], None],
) -> Iterator[None]:
    """SIGTERM/SIGINT: first one calls on_stop, a second on_force. SIGHUP calls on_reload."""
    received = 0

    def stop(signum: int) -> None:
        nonlocal received
        received += 1
        name = signal.Signals(signum).name
        if received == 1:
            log.info("%s: stopping gracefully", name, extra={"action": "daemon.signal"})
            on_stop()
        else:
            log.warning("%s again: stopping now", name, extra={"action": "daemon.signal"})
            on_force()

    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {s: signal.getsignal(s) for s in handled}
    loop.add_signal_handler(signal.SIGTERM, stop, signal.SIGTERM)
    loop.add_signal_handler(signal.SIGINT, stop, signal.SIGINT)
    loop.add_signal_handler(signal.SIGHUP, on_reload)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous[sig])
