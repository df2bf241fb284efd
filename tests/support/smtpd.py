"""aiosmtpd test servers: plain, STARTTLS-required, implicit TLS; AUTH PLAIN/LOGIN/CRAM-MD5; faults.

Each server runs in the test's own event loop on 127.0.0.1, port 0::

    async with SmtpTestServer(tls="starttls", users={"acme/production": "s3cret"}) as srv:
        srv.faults.add("DATA", "451 4.3.0 try later")   # the next DATA command gets this reply
        ... srv.port, srv.messages ...

Fault stages: GREETING, MAIL, RCPT, DATA (the DATA command), DATA_MID (after 354, while the
message comes in; only "drop"), END (after the final "."). Actions: an SMTP reply line (421
also closes the connection), "drop" (close without a reply) or "hang" (never answer). Each
queued action is used once, by whichever connection reaches that stage first.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import secrets
import ssl
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

FOREVER = 3600.0


@dataclass(frozen=True)
class Captured:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    mail_options: tuple[str, ...]
    login: str | None
    tls: bool


@dataclass
class Faults:
    """Queued faults per stage, plus a greeting delay."""

    greeting_delay: float = 0.0
    queued: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))

    def add(self, stage: str, *actions: str) -> None:
        self.queued[stage.upper()].extend(actions)

    def take(self, stage: str) -> str | None:
        queue = self.queued.get(stage)
        return queue.popleft() if queue else None


class CaptureHandler:
    """Stores every accepted message in memory, and optionally as NNNNNN.eml files in `outdir`."""

    def __init__(self, faults: Faults, outdir: Path | None = None) -> None:
        self.faults = faults
        self.outdir = outdir
        self.messages: list[Captured] = []
        self.data_commands = 0  # DATA transactions that reached the final "."
        self.data_started = 0  # DATA commands answered with 354

    async def handle_EHLO(
        self, server: FaultySMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [r for r in responses if r.strip() != "250-AUTH"]

    async def handle_DATA(self, server: FaultySMTP, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        action = self.faults.take("END")
        if action is not None:
            return await server.fault(action)
        data = bytes(envelope.original_content or envelope.content)
        captured = Captured(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=data,
            mail_options=tuple(envelope.mail_options),
            login=_login(session),
            tls=server.tls_active,
        )
        self.messages.append(captured)
        if self.outdir is not None:
            (self.outdir / f"{len(self.messages):06d}.eml").write_bytes(data)
        return "250 2.0.0 OK queued"


def _login(session: Any) -> str | None:
    data = session.auth_data
    login = getattr(data, "login", None)
    return login.decode("utf-8", "replace") if isinstance(login, bytes) else None


class FaultySMTP(SMTP):  # type: ignore[misc]
    """aiosmtpd's SMTP with fault injection, CRAM-MD5, connection counting."""

    def __init__(self, owner: SmtpTestServer, handler: CaptureHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.handler = handler
        self.owner = owner
        self._greeted = False
        self.implicit_tls = False

    @property
    def tls_active(self) -> bool:
        return self.implicit_tls or self._tls_protocol is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:
            self.implicit_tls = transport.get_extra_info("sslcontext") is not None
            self.owner.connection_opened(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.owner.connection_closed(self)
        super().connection_lost(error)

    async def fault(self, action: str) -> str:
        """Act out a fault; return a reply line only for plain replies."""
        if action in ("drop", "hang"):
            if action == "drop" and self.transport is not None:
                self.transport.abort()
            await asyncio.sleep(FOREVER)  # cancelled when the connection goes
            raise AssertionError("unreachable")
        if action.startswith("421"):
            await super().push(action)
            if self.transport is not None:
                self.transport.close()
            await asyncio.sleep(FOREVER)
        return action

    async def push(self, status: Any) -> None:
        if not self._greeted:
            self._greeted = True
            faults = self.owner.faults
            if faults.greeting_delay:
                await asyncio.sleep(faults.greeting_delay)
            action = faults.take("GREETING")
            if action is not None:
                await super().push(await self.fault(action))
                if self.transport is not None:
                    self.transport.close()
                await asyncio.sleep(FOREVER)
        await super().push(status)

    async def _fault_or(self, stage: str) -> bool:
        action = self.owner.faults.take(stage)
        if action is None:
            return False
        await super().push(await self.fault(action))
        return True

    async def smtp_MAIL(self, arg: str | None) -> None:
        if not await self._fault_or("MAIL"):
            await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        if not await self._fault_or("RCPT"):
            await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg: str) -> None:
        if self.envelope is not None and self.envelope.rcpt_tos and not arg:
            if await self._fault_or("DATA"):
                return
            self.handler.data_started += 1
            if self.owner.faults.take("DATA_MID") is not None:
                await super().push("354 End data with <CR><LF>.<CR><LF>")
                await self._reader.readuntil(b"\r\n")
                if self.transport is not None:
                    self.transport.abort()
                await asyncio.sleep(FOREVER)
        await super().smtp_DATA(arg)

    async def _echo_refusal(self, said: str) -> AuthResult:
        # A hostile or careless server: the refusal repeats what the client sent.
        await super().push(f"535 5.7.8 rejected {said}")
        return AuthResult(success=False, handled=True)

    async def auth_PLAIN(self, server: Any, args: list[str]) -> AuthResult:
        if self.owner.echo_auth:
            return await self._echo_refusal("AUTH " + " ".join(args))
        result: AuthResult = await super().auth_PLAIN(server, args)
        return result

    async def auth_LOGIN(self, server: Any, args: list[str]) -> AuthResult:
        if self.owner.echo_auth:
            password = await self.challenge_auth(self.AuthLoginPasswordChallenge)
            if not isinstance(password, bytes):
                return AuthResult(success=False, handled=True)
            sent = base64.b64encode(password).decode()
            text = password.decode("utf-8", "replace")
            return await self._echo_refusal(f"AUTH {' '.join(args)}, then {sent} ({text})")
        result: AuthResult = await super().auth_LOGIN(server, args)
        return result

    async def auth_CRAM__MD5(self, _: Any, args: list[str]) -> AuthResult:
        challenge = f"<{secrets.token_hex(8)}@{self.hostname}>".encode()
        response = await self.challenge_auth(challenge)
        if not isinstance(response, bytes):
            return AuthResult(success=False, handled=True)
        if self.owner.echo_auth:
            return await self._echo_refusal(base64.b64encode(response).decode())
        user, _, digest = response.partition(b" ")
        secret = self.owner.users.get(user.decode("utf-8", "replace"))
        if secret is None:
            return AuthResult(success=False, handled=False)
        expected = hmac.new(secret.encode(), challenge, "md5").hexdigest().encode()
        ok = hmac.compare_digest(expected, digest.strip())
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(user, b""))


class SmtpTestServer:
    """An aiosmtpd server on 127.0.0.1:0 in the running loop; an async context manager.

    tls: "none", "starttls" (offered; `require_tls` makes it mandatory, and AUTH is offered only
    after it, port-587 style) or "implicit" (port-465 style). `users` enables AUTH with those
    credentials (PLAIN, LOGIN, CRAM-MD5; `mechanisms` narrows them). `echo_auth` refuses every
    login with a 535 reply that repeats what the client sent (base64 and all).
    """

    def __init__(
        self,
        *,
        tls: str = "none",
        tls_context: ssl.SSLContext | None = None,
        require_tls: bool = True,
        users: Mapping[str, str] | None = None,
        mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN", "CRAM-MD5"),
        smtputf8: bool = False,
        outdir: Path | None = None,
        port: int = 0,
        echo_auth: bool = False,
    ) -> None:
        if tls != "none" and tls_context is None:
            raise ValueError("a TLS server needs tls_context")
        self.tls = tls
        self.tls_context = tls_context
        self.require_tls = require_tls
        self.users = dict(users or {})
        self.mechanisms = mechanisms
        self.smtputf8 = smtputf8
        self.echo_auth = echo_auth
        self.faults = Faults()
        self.handler = CaptureHandler(self.faults, outdir)
        self.host = "127.0.0.1"
        self.port = port
        self.connections = 0
        self.peak_connections = 0
        self.total_connections = 0
        self._server: asyncio.Server | None = None
        self._protocols: set[FaultySMTP] = set()

    @property
    def messages(self) -> list[Captured]:
        return self.handler.messages

    @property
    def data_started(self) -> int:
        return self.handler.data_started

    @property
    def data_commands(self) -> int:
        return self.handler.data_commands

    def connection_opened(self, protocol: FaultySMTP) -> None:
        self._protocols.add(protocol)
        self.connections += 1
        self.total_connections += 1
        self.peak_connections = max(self.peak_connections, self.connections)

    def connection_closed(self, protocol: FaultySMTP) -> None:
        self._protocols.discard(protocol)
        self.connections -= 1

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user = data.login.decode("utf-8", "replace")
            if self.users.get(user) == data.password.decode("utf-8", "replace"):
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

    def _protocol(self) -> FaultySMTP:
        all_mechanisms = {"PLAIN", "LOGIN", "CRAM-MD5"}
        kwargs: dict[str, Any] = {
            "hostname": "smtp.test",
            "enable_SMTPUTF8": self.smtputf8,
            "timeout": 30,
            "auth_exclude_mechanism": sorted(all_mechanisms - set(self.mechanisms))
            if self.users
            else sorted(all_mechanisms),
            "authenticator": self._authenticate,
            "auth_required": bool(self.users) and self.tls == "starttls" and self.require_tls,
            "auth_require_tls": self.tls == "starttls" and self.require_tls,
        }
        if self.tls == "starttls":
            kwargs["tls_context"] = self.tls_context
            kwargs["require_starttls"] = self.require_tls
        return FaultySMTP(self, self.handler, **kwargs)

    async def start(self) -> SmtpTestServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            self.host,
            self.port,
            reuse_address=True,
            ssl=self.tls_context if self.tls == "implicit" else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for protocol in list(self._protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        for _ in range(50):
            if not self._protocols:
                break
            await asyncio.sleep(0.01)

    async def __aenter__(self) -> SmtpTestServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
