"""An SMTP messenger: round robin over its servers, fail-over, silent retries of transient ones."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from campaignd.domain import OutcomeKind, SendOutcome
from campaignd.errors import CampaigndError, InvalidAddress
from campaignd.messengers.envelope import Envelope
from campaignd.messengers.headers import ServerHeaders
from campaignd.messengers.protocol import Sign
from campaignd.messengers.server import SmtpServer
from campaignd.replies import classify

log = logging.getLogger(__name__)


def _offloaded(sign: Sign) -> Callable[[bytes], Awaitable[bytes]] | None:
    """`sign.offloaded` of an OffloadedSign (a look-up: isinstance on the runtime-checkable
    protocol costs ~4 µs of the event loop per send)."""
    offloaded: Callable[[bytes], Awaitable[bytes]] | None = getattr(sign, "offloaded", None)
    return offloaded


async def _prepare(
    server: SmtpServer,
    message: bytes,
    sign: Sign | None,
    payloads: dict[SmtpServer | ServerHeaders, bytes],
) -> bytes:
    """`server`'s payload of `message`, remembered in `payloads`. Signed ones are remembered by
    the server's headers: servers adding the same ones (most often none) share the payload, so
    a message is signed once, not once per server it is tried on. A DKIM signer signs in its
    signer process (`offloaded`), any other sign in a thread: either way off the event loop
    (docs/performance.md, "DKIM signing")."""
    if sign is None:
        payload = payloads[server] = server.prepare(message)
    elif (offloaded := _offloaded(sign)) is not None:
        payload = await server.prepare_offloaded(message, offloaded)
        payloads[server.headers] = payload
    else:
        payload = payloads[server.headers] = await asyncio.to_thread(server.prepare, message, sign)
    return payload


def _unsigned(exc: CampaigndError, attempts: int) -> SendOutcome:
    """The outcome of a send whose message could not be signed: nothing went out; transient,
    so the engine retries the recipient later like after any other failure."""
    log.warning("not sent: DKIM signing failed (%s)", exc, extra={"action": "smtp.sign_failed"})
    return SendOutcome(
        OutcomeKind.TRANSIENT, text=f"DKIM signing failed, nothing sent: {exc}", attempts=attempts
    )


class SmtpMessenger:
    """The `email` pool or one named server; satisfies campaignd.messengers.protocol.Messenger.

    Each send starts on the next server in turn. A transient failure before the final "." is
    retried (after the failing server's msg_retry_delay, at most its max_msg_retries times) on
    another connection, preferring a server this send has not tried yet; a "too fast" reply
    (campaignd.replies: throttled) is not, it is the engine's to pace. Servers that fail at
    connection level are set aside by their own back-off; when none is left the send fails at
    once as transient with connection_error=True.
    """

    def __init__(self, name: str, servers: Sequence[SmtpServer]) -> None:
        if not servers:
            raise ValueError("a messenger needs at least one server")
        self._name = name
        self._servers = tuple(servers)
        self._labels = tuple(s.label for s in servers)
        self._next = 0
        self._all_down = False
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def servers(self) -> Sequence[str]:
        return self._labels

    @property
    def smtp_servers(self) -> tuple[SmtpServer, ...]:
        return self._servers

    def _pick(self, tried: set[SmtpServer]) -> SmtpServer | None:
        """The next admissible server in turn, one not yet tried by this send if possible."""
        servers = self._servers
        n = len(servers)
        start = self._next
        fallback: int | None = None
        for step in range(n):
            i = (start + step) % n
            server = servers[i]
            if server in tried:
                if fallback is None:
                    fallback = i
                continue
            if server.admit():
                self._next = (i + 1) % n
                return server
        if fallback is not None and servers[fallback].admit():
            self._next = (fallback + 1) % n
            return servers[fallback]
        return None

    def _none_left(self, attempts: int, last: SendOutcome | None) -> SendOutcome:
        reasons = "; ".join(
            f"{s.label}: {s.health.reason}" for s in self._servers if s.health.reason
        )
        if not self._all_down:
            self._all_down = True
            log.warning(
                "every server of messenger %s is down (%s); sends fail at once until one is back",
                self._name,
                reasons or "closed",
                extra={"action": "smtp.all_down"},
            )
        return SendOutcome(
            OutcomeKind.TRANSIENT,
            server=last.server if last else None,
            code=last.code if last else None,
            enhanced=last.enhanced if last else None,
            text=f"no server of messenger {self._name} is available"
            + (f" ({reasons})" if reasons else ""),
            attempts=attempts,
            connection_error=True,
            # Also when this send tried nothing: a server set aside for refusing our credentials
            # must pause the campaign, not defer every recipient until its back-off ends.
            auth_failed=bool(last and last.auth_failed)
            or any(s.health.down and s.health.auth_failed for s in self._servers),
        )

    async def send(
        self, sender: str, recipients: Sequence[str], message: bytes, sign: Sign | None = None
    ) -> SendOutcome:
        if self._closed:
            return SendOutcome(OutcomeKind.TRANSIENT, text="messenger closed", attempts=0)
        try:
            env = Envelope.build(sender, recipients, message)
        except InvalidAddress as exc:
            return SendOutcome(OutcomeKind.PERMANENT, text=str(exc), attempts=0)
        tried: set[SmtpServer] = set()
        payloads: dict[SmtpServer | ServerHeaders, bytes] = {}
        attempts = 0
        last: SendOutcome | None = None
        while True:
            server = self._pick(tried)
            if server is None:
                return self._none_left(attempts, last)
            tried.add(server)
            payload = payloads.get(server if sign is None else server.headers)
            if payload is None:
                try:
                    payload = await _prepare(server, message, sign, payloads)
                except CampaigndError as exc:  # the signer failed: send nothing, retry later
                    server.health.release()
                    return _unsigned(exc, attempts)
                except asyncio.CancelledError:
                    server.health.release()
                    raise
            attempts += 1
            outcome = await server.attempt(env, payload)
            if self._all_down and not outcome.connection_error:
                self._back_up(server)
            if outcome.kind is not OutcomeKind.TRANSIENT or self._closed:
                break
            if classify(outcome.code, outcome.text).throttled:
                break  # "too fast" (4.7.28...): another try now would only make it worse

            last = outcome
            settings = server.settings
            if attempts > settings.max_msg_retries:
                break
            log.debug(
                "transient failure on %s (%s); retrying",
                server.label,
                outcome.text,
                extra={"action": "smtp.retry"},
            )
            if settings.msg_retry_delay:
                await asyncio.sleep(settings.msg_retry_delay)
        return outcome if attempts == 1 else _after_attempts(outcome, attempts)

    def _back_up(self, server: SmtpServer) -> None:
        self._all_down = False
        log.info(
            "messenger %s has a working server again (%s)",
            self._name,
            server.label,
            extra={"action": "smtp.all_up"},
        )

    async def close(self) -> None:
        """Close this messenger's servers (shared servers close for every messenger using them)."""
        self._closed = True
        await asyncio.gather(*(s.close() for s in self._servers))


def _after_attempts(outcome: SendOutcome, attempts: int) -> SendOutcome:
    """The last attempt's outcome, counting every attempt made for the message."""
    return SendOutcome(
        outcome.kind,
        server=outcome.server,
        code=outcome.code,
        enhanced=outcome.enhanced,
        text=outcome.text,
        attempts=attempts,
        connection_error=outcome.connection_error,
        auth_failed=outcome.auth_failed,
    )
