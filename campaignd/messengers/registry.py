"""Build the configured messengers from settings: `email` (the pool) and one per named server."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from campaignd.config import DEFAULT_POOL, Settings, SmtpSettings
from campaignd.errors import UnknownMessenger
from campaignd.messengers.pool import SmtpMessenger
from campaignd.messengers.protocol import Messenger
from campaignd.messengers.server import SmtpServer


def messenger_names(settings: Settings) -> set[str]:
    """The messenger names a campaign may use."""
    return set(settings.messengers())


def check_messenger(settings: Settings, name: str) -> None:
    """Raise UnknownMessenger (listing the configured names) unless `name` is configured."""
    names = messenger_names(settings)
    if name not in names:
        configured = ", ".join(sorted(names)) or "none: add an [[smtp]] server to settings.toml"
        raise UnknownMessenger(
            f"no messenger named {name!r} is configured (configured: {configured})"
        )


def server_key(settings: Settings, server: SmtpSettings) -> str:
    """The settings key of a server, such as smtp[0], for error messages."""
    for i, s in enumerate(settings.smtp):
        if s is server:
            return f"smtp[{i}]"
    return "smtp"


def build_servers(
    settings: Settings, *, backoff_base: float = 1.0, backoff_max: float = 60.0
) -> dict[int, SmtpServer]:
    """One SmtpServer per enabled [[smtp]] entry, keyed by its index; ConfigError on bad headers."""
    return {
        i: SmtpServer(s, key=f"smtp[{i}]", backoff_base=backoff_base, backoff_max=backoff_max)
        for i, s in enumerate(settings.smtp)
        if s.enabled
    }


def build_messengers(
    settings: Settings, *, backoff_base: float = 1.0, backoff_max: float = 60.0
) -> dict[str, Messenger]:
    """Messenger name -> messenger. A named server with in_pool shares its connections with `email`.

    A server failing at connection level is set aside for backoff_base seconds, doubling up to
    backoff_max while it keeps failing.
    """
    servers = build_servers(settings, backoff_base=backoff_base, backoff_max=backoff_max)
    by_identity = {id(settings.smtp[i]): server for i, server in servers.items()}
    out: dict[str, Messenger] = {}
    for name, entries in settings.messengers().items():
        out[name] = SmtpMessenger(name, [by_identity[id(e)] for e in entries])
    return out


async def close_messengers(messengers: Mapping[str, Messenger]) -> None:
    """Close every messenger (and so every connection)."""
    await asyncio.gather(*(m.close() for m in messengers.values()))


__all__ = [
    "DEFAULT_POOL",
    "build_messengers",
    "check_messenger",
    "close_messengers",
    "messenger_names",
    "server_key",
]
