"""One SMTP server: its TLS context, a pool of persistent connections, its rate and its health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable

import aiosmtplib

from campaignd.config import SmtpSettings, TlsType
from campaignd.domain import OutcomeKind, SendOutcome
from campaignd.errors import ConfigError, ConnectFailure
from campaignd.messengers.connection import (
    StepHook,
    Waiting,
    deliver,
    open_connection,
    resume,
    say_goodbye,
)
from campaignd.messengers.envelope import Envelope, wire_payload
from campaignd.messengers.headers import build_headers, merge_headers
from campaignd.messengers.health import Health
from campaignd.messengers.protocol import Sign
from campaignd.messengers.slots import Slots
from campaignd.ratelimit import RateLimiter

log = logging.getLogger(__name__)

_HOSTNAME = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$|^\[[0-9A-Fa-f:.]+\]$"
)
_fqdn: str | None = None


async def local_hostname() -> str:
    """This host's name for EHLO, looked up once, off the event loop."""
    global _fqdn
    if _fqdn is None:
        name = await asyncio.to_thread(socket.getfqdn)
        _fqdn = name if name and _HOSTNAME.match(name) and name.isascii() else "localhost"
    return _fqdn


def tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """The client TLS context for a server: system CAs, verified unless tls_skip_verify."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if settings.tls_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _connect_failed(server: str, exc: ConnectFailure) -> SendOutcome:
    """The outcome of a send whose connection could not be opened."""
    return SendOutcome(
        OutcomeKind.TRANSIENT,
        server=server,
        code=exc.code,
        text=f"{exc.step}: {exc.reason}",
        connection_error=True,
        auth_failed=exc.auth_failed,
    )


def _no_slot(server: str, wait_timeout: float) -> SendOutcome:
    """The outcome of a send that found no free connection in time."""
    text = f"no free connection within {wait_timeout:g}s"
    return SendOutcome(OutcomeKind.TRANSIENT, server=server, text=text)


def _log_down(server: str, reason: str, delay: float, first: bool) -> None:
    """A warning when a server goes down, a debug line for each failed retry after that."""
    if first:
        log.warning(
            "SMTP server %s is down (%s); set aside, retrying in %.3gs",
            server,
            reason,
            delay,
            extra={"action": "smtp.server_down"},
        )
    else:
        log.debug(
            "SMTP server %s still down (%s); next try in %.3gs",
            server,
            reason,
            delay,
            extra={"action": "smtp.server_down"},
        )


class SmtpServer:
    """Up to max_conns reused connections, idle ones closed after idle_timeout; set aside when down.

    `attempt` makes one delivery attempt and never raises for delivery problems.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        key: str = "smtp",
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        context_factory: Callable[[SmtpSettings], ssl.SSLContext] = tls_context,
    ) -> None:
        if settings.hello_hostname and not (
            settings.hello_hostname.isascii() and _HOSTNAME.match(settings.hello_hostname)
        ):
            raise ConfigError(f"{key}.hello_hostname", "must be a host name or [address]")
        self.settings = settings
        self.label = settings.label
        self.headers = build_headers(settings.email_headers, f"{key}.email_headers")
        self.health = Health(base=backoff_base, cap=backoff_max)
        self._clock = clock
        self._context_factory = context_factory
        self._context: ssl.SSLContext | None = None
        self._context_lock = asyncio.Lock()
        self._limiter = RateLimiter(settings.max_rate) if settings.max_rate else None
        self._slots: Slots[Waiting] = Slots(settings.max_conns, settings.wait_timeout)
        # Sends adopted by a connection (their envelope sent with its current message), by
        # connection, with the future that hands them the connection and the slot.
        self._adopted: dict[aiosmtplib.SMTP, tuple[Waiting, asyncio.Future[bool]]] = {}
        self._idle: list[tuple[float, aiosmtplib.SMTP]] = []  # (last used, client); newest last
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False
        self.open_connections = 0  # connected clients, leased or idle
        self.peak_connections = 0

    # -- connections -------------------------------------------------------------------------

    async def _tls(self) -> ssl.SSLContext | None:
        if self.settings.tls_type is TlsType.NONE:
            return None
        if self._context is None:
            async with self._context_lock:
                if self._context is None:  # loading the CA store reads files: not on the loop
                    self._context = await asyncio.to_thread(self._context_factory, self.settings)
        return self._context

    async def connect(self, hook: StepHook | None = None) -> aiosmtplib.SMTP:
        """Open a new connection (outside the pool); raise ConnectFailure."""
        return await open_connection(
            self.settings,
            await self._tls(),
            self.settings.hello_hostname or await local_hostname(),
            self.settings.password.get_secret_value(),
            hook,
        )

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            _, client = self._idle.pop()
            if client.is_connected:
                return client
            self.open_connections -= 1
        return None

    def _release(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected and not self._closed:
            self._idle.append((self._clock(), client))
            if self._reaper is None:
                self._reaper = asyncio.get_running_loop().create_task(
                    self._reap(), name=f"smtp-reaper:{self.label}"
                )
        else:
            client.close()
            self.open_connections -= 1

    async def _reap(self) -> None:
        """Close connections idle longer than idle_timeout (a task of this server's own)."""
        idle_timeout = self.settings.idle_timeout
        while True:
            await asyncio.sleep(max(idle_timeout / 2, 0.05))
            cutoff = self._clock() - idle_timeout
            stale = [c for used, c in self._idle if used <= cutoff]
            if not stale:
                continue
            self._idle = [(used, c) for used, c in self._idle if used > cutoff]
            self.open_connections -= len(stale)
            await asyncio.gather(*(say_goodbye(c) for c in stale))
            log.debug(
                "closed %d idle connections to %s",
                len(stale),
                self.label,
                extra={"action": "smtp.idle_close"},
            )

    # -- health ------------------------------------------------------------------------------

    def admit(self) -> bool:
        """May a send use this server now (False while it is set aside)?"""
        return not self._closed and self.health.admit(self._clock())

    def _down(self, reason: str, auth_failed: bool = False) -> None:
        delay = self.health.failed(self._clock(), reason, auth_failed)
        if delay is not None:
            _log_down(self.label, reason, delay, first=self.health.failures == 1)

    def _up(self) -> None:
        if self.health.failures and (failures := self.health.succeeded()):
            log.info(
                "SMTP server %s is back after %d failed attempts",
                self.label,
                failures,
                extra={"action": "smtp.server_up"},
            )

    # -- sending -----------------------------------------------------------------------------

    def prepare(self, message: bytes, sign: Sign | None = None) -> bytes:
        """The message with this server's headers (then signed by `sign`), ready for DATA."""
        merged = merge_headers(message, self.headers)
        return wire_payload(merged if sign is None else sign(merged))

    async def prepare_offloaded(
        self, message: bytes, offloaded: Callable[[bytes], Awaitable[bytes]]
    ) -> bytes:
        """`prepare` with the `offloaded` of an OffloadedSign, which signs elsewhere (the loop
        only merges and dot-stuffs)."""
        return wire_payload(await offloaded(merge_headers(message, self.headers)))

    async def attempt(self, env: Envelope, payload: bytes) -> SendOutcome:
        """One delivery attempt on a pooled connection (a fresh one if a reused one was stale)."""
        try:
            return await self._attempt(env, payload)
        finally:
            self.health.release()

    def _adopt(self, client: aiosmtplib.SMTP, fits: Callable[[Waiting], bool]) -> Waiting | None:
        """The longest waiting send, if it `fits`: its envelope goes out on `client` now."""
        found = self._slots.adopt(fits)
        if found is None:
            return None
        self._adopted[client] = found
        return found[0]

    def _pass_on(self, client: aiosmtplib.SMTP) -> bool:
        """Hand `client` and the slot to the send it adopted (True), or release it (False)."""
        found = self._adopted.pop(client, None) if self._adopted else None
        if found is None:
            self._release(client)
            return False
        waiting, future = found
        if future.done():  # that send was cancelled meanwhile: its DATA may be open
            client.close()
            self._release(client)
            return False
        if client.is_connected:
            waiting.client = client
        else:  # its envelope was lost with the connection: it starts over on another one
            self._release(client)
        future.set_result(True)
        return True

    async def _attempt(self, env: Envelope, payload: bytes) -> SendOutcome:
        if self._closed:
            return SendOutcome(OutcomeKind.TRANSIENT, server=self.label, text="messenger closed")
        if self._limiter is not None:
            await self._limiter.acquire()
        waiting = Waiting(env, payload)
        try:
            got = await self._slots.take(waiting)
        except asyncio.CancelledError:
            if waiting.client is not None:  # handed a connection, its DATA maybe open
                waiting.client.close()
                self._release(waiting.client)
            raise
        if not got:
            return _no_slot(self.label, self.settings.wait_timeout)
        passed = False  # the slot went on to a send this one's connection adopted
        try:
            client = waiting.client  # adopted: this send's envelope went out on it
            tries = 0
            while True:
                reused = True
                if client is None:
                    tries += 1
                    client = self._take_idle()
                    reused = client is not None
                    if client is None:
                        try:
                            client = await self.connect()
                        except ConnectFailure as exc:
                            self._down(exc.reason, exc.auth_failed)
                            return _connect_failed(self.label, exc)
                        self.open_connections += 1
                        self.peak_connections = max(self.peak_connections, self.open_connections)
                        self._up()
                try:
                    if tries == 0:
                        result = await resume(client, self.label, waiting, self._adopt)
                    else:
                        result = await deliver(
                            client, self.label, env, payload, reused=reused, adopt=self._adopt
                        )
                except BaseException:
                    client.close()  # cancelled mid-transaction: its state is unknown
                    raise
                finally:
                    passed = self._pass_on(client)
                if passed or not result.stale or tries >= 2:
                    break
                client = None
            outcome = result.outcome
            if outcome.code == 421 and not reused:
                # 421 on a reused connection may just end that connection; on a fresh one
                # the server is refusing service.
                self._down(f"421 {outcome.text}")
            return outcome
        finally:
            if not passed:
                self._slots.give_back()

    async def close(self) -> None:
        """Close idle connections (QUIT); later attempts fail as transient."""
        if self._closed:
            return
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        idle, self._idle = self._idle, []
        self.open_connections -= len(idle)
        await asyncio.gather(*(say_goodbye(c) for _, c in idle))
