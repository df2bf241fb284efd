"""The inbound SMTP receiver ([inbound]): bounces and mailto unsubscribes, on the daemon's loop.

It sits behind the operator's MX or Postfix transport map (docs/bounces.md) and takes RCPT
only for our VERP addresses with a valid token (``bounces+<token>@`` and
``unsubscribe+<token>@``, see campaignd.rendering.verp): anything else gets 550 5.1.1, so it
relays nothing. DATA over ``max_message_size`` gets 552, a client with more than
``max_connections_per_client`` open connections gets 421, STARTTLS is offered when a
certificate is configured. Each mail is classified (campaignd.bounces.classify) and applied
(campaignd.bounces.mailin) before the 250 is sent: when the database is down the answer is
451 and the sending MTA keeps the mail and retries.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import Counter
from email.utils import parseaddr
from typing import Any

from aiosmtpd.smtp import SMTP

from campaignd.bounces.mailin import MailApplier
from campaignd.bounces.mailroute import apply_mail
from campaignd.bounces.suppression import Suppressor
from campaignd.config import InboundSettings, Settings
from campaignd.errors import ConfigError, StoreError
from campaignd.rendering.verp import VerpCodec
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 20  # a bounce has one; more is someone probing


class InboundServer:
    """The listening socket and its sessions; `start` binds (a busy port stops the daemon)."""

    def __init__(self, settings: InboundSettings, codec: VerpCodec, applier: MailApplier):
        self.settings = settings
        self.codec = codec
        self.applier = applier
        self._clients: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._tls = _tls_context(settings)
        self._hostname = socket.gethostname()
        self.port = 0

    async def start(self) -> None:
        host, _, port = self.settings.listen.rpartition(":")
        host = host.strip("[]")
        # aiosmtpd logs every connection at INFO; ours are logged per mail.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        try:
            self._server = await asyncio.get_running_loop().create_server(
                self._session, host, int(port), reuse_address=True
            )
        except OSError as exc:
            raise ConfigError(
                "inbound.listen", f"cannot listen on {self.settings.listen}: {exc.strerror}"
            ) from exc
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info(
            "inbound SMTP receiver listening on %s:%d%s",
            host,
            self.port,
            " (STARTTLS)" if self._tls else "",
            extra={"action": "inbound.started"},
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await self._server.wait_closed()
        self._server = None

    def _session(self) -> _Session:
        return _Session(
            self,
            _Handler(self.codec, self.applier),
            data_size_limit=self.settings.max_message_size,
            enable_SMTPUTF8=False,
            decode_data=False,
            hostname=self._hostname,
            ident="campaignd inbound",
            tls_context=self._tls,
            timeout=self.settings.timeout,
            loop=asyncio.get_running_loop(),
        )

    def admit(self, client: str) -> bool:
        if self._clients[client] >= self.settings.max_connections_per_client:
            log.warning(
                "inbound: refused a connection from %s (max_connections_per_client reached)",
                client,
                extra={"action": "inbound.too_many_connections"},
            )
            return False
        self._clients[client] += 1
        return True

    def release(self, client: str) -> None:
        self._clients[client] -= 1
        if self._clients[client] <= 0:
            del self._clients[client]


def _tls_context(settings: InboundSettings) -> ssl.SSLContext | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            "inbound.tls_cert_file", f"cannot load the certificate and key: {exc}"
        ) from exc
    return context


class _Session(SMTP):
    """One client connection, counted against its address."""

    def __init__(self, owner: InboundServer, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner
        self._client: str | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self._client is None and not self._refused  # STARTTLS comes back here
        super().connection_made(transport)
        if first:
            peer = transport.get_extra_info("peername")
            client = str(peer[0]) if peer else "unknown"
            if self._owner.admit(client):
                self._client = client
                self._owner._sessions.add(self)
            else:
                self._refused = True

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self._owner._sessions.discard(self)
        if self._client is not None:
            self._owner.release(self._client)
            self._client = None

    async def _handle_client(self) -> None:
        if self._refused:  # the task connection_made started runs after it returned
            await self.push("421 4.7.0 Too many connections from your address, try later")
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()


class _Handler:
    """aiosmtpd hooks: RCPT checks the VERP token, DATA classifies and applies."""

    def __init__(self, codec: VerpCodec, applier: MailApplier) -> None:
        self.codec = codec
        self.applier = applier

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.codec.parse(address) is None:
            log.info(
                "inbound: refused RCPT to an address at %s (not ours, or a forged token)",
                address.rpartition("@")[2][:100] or "no domain",
                extra={"action": "inbound.refused"},
            )
            return "550 5.1.1 Recipient address rejected: no such mailbox here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or b""
        # Checked at RCPT; the secret cannot change in between.
        targets = [t for t in map(self.codec.parse, envelope.rcpt_tos) if t is not None]
        try:
            await apply_mail(raw, targets, self.applier)
        except StoreError as exc:
            log.error(
                "inbound mail not applied, the sender will retry: %s",
                exc,
                extra={"action": "inbound.store_error"},
            )
            return "451 4.3.0 Temporary failure, try again later"
        return "250 2.0.0 OK"

    async def handle_exception(self, error: Exception) -> str:
        """A bug while handling a command: logged, and a temporary failure for the client
        (aiosmtpd's default would send it the exception's text)."""
        log.error(
            "inbound: internal error, the sender will retry: %s",
            error,
            exc_info=error,
            extra={"action": "inbound.error"},
        )
        return "451 4.3.0 Temporary failure, try again later"


async def serve(settings: Settings, store: Store, suppressor: Suppressor) -> InboundServer:
    """Start the receiver for the configured addresses: bounces.return_path, and the bare
    app.unsubscribe_mailto (it carries a token only with a return_path, see compose)."""
    return_path = settings.bounces.return_path
    mailto = parseaddr(settings.app.unsubscribe_mailto)[1] if return_path else ""
    if not return_path:
        log.warning(
            "[inbound] is enabled but bounces.return_path is not set: no message carries a VERP "
            "address, so every recipient is refused",
            extra={"action": "inbound.no_verp"},
        )
    codec = VerpCodec(settings.require_secret(), return_path, mailto)
    server = InboundServer(settings.inbound, codec, MailApplier(store, suppressor))
    await server.start()
    return server
