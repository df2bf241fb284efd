"""Bounces and unsubscribes that arrive by mail: start the [inbound] SMTP receiver and the
[[mailbox]] scanners that are configured, on the daemon's exit stack and side tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

from campaignd.bounces.suppression import Suppressor
from campaignd.config import Settings
from campaignd.store.protocol import Store


async def start(
    stack: AsyncExitStack,
    settings: Settings,
    store: Store,
    suppressor: Suppressor,
    stopping: asyncio.Event,
    spawn: Callable[[Coroutine[Any, Any, None], str], None],
) -> None:
    """The receiver closes with `stack`; each scanner runs as a side task until `stopping`."""
    if settings.inbound.enabled:
        from campaignd.daemon import inbound

        stack.push_async_callback((await inbound.serve(settings, store, suppressor)).stop)
    if settings.mailbox:
        from campaignd.daemon import mailbox

        for scanner in mailbox.scanners(settings, store, suppressor):
            spawn(scanner.run(stopping), f"mailbox {scanner.label}")
