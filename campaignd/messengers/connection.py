"""One SMTP connection: open it (connect, TLS, EHLO, AUTH); mail goes through transaction.py.

aiosmtplib stays behind this module and transaction.py; `deliver`, `resume`, `say_goodbye`,
`Delivery` and `Waiting` are re-exported here for the pool.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectResponseError,
    SMTPConnectTimeoutError,
    SMTPException,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from campaignd.config import AuthProtocol, SmtpSettings, TlsType
from campaignd.errors import ConnectFailure
from campaignd.messengers.outcomes import Delivery
from campaignd.messengers.redact import credential_redactor
from campaignd.messengers.transaction import Waiting, deliver, resume, say_goodbye

__all__ = [
    "Delivery",
    "StepHook",
    "Waiting",
    "deliver",
    "open_connection",
    "resume",
    "say_goodbye",
]

#: Called with (step, detail) as a connection is opened, for `campaignd messengers test`.
StepHook = Callable[[str, str], None]

_MECHANISMS = {
    AuthProtocol.PLAIN: "PLAIN",
    AuthProtocol.LOGIN: "LOGIN",
    AuthProtocol.CRAM: "CRAM-MD5",
}
_WRONG_TLS = re.compile(r"WRONG_VERSION_NUMBER|record layer failure|unknown protocol|packet length")


def _tls_failure(step: str, exc: BaseException, settings: SmtpSettings) -> ConnectFailure:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectFailure(
            step,
            f"certificate not trusted: {exc.verify_message}",
            hint="install a certificate the system trusts on the server, or for a test server "
            "only set tls_skip_verify = true",
        )
    text = str(exc)
    if _WRONG_TLS.search(text):
        return ConnectFailure(
            step,
            f"TLS handshake failed: {text}",
            hint=f"port {settings.port} does not speak TLS from the first byte; use tls_type = "
            '"STARTTLS" (ports 587, 25, 2525) or the implicit-TLS port (usually 465)',
        )
    return ConnectFailure(step, f"TLS handshake failed: {text}")


async def _connect(
    client: aiosmtplib.SMTP, settings: SmtpSettings, hook: StepHook | None
) -> aiosmtplib.SMTPResponse:
    where = f"{settings.host}:{settings.port}"
    try:
        greeting = await client.connect()
    except SMTPConnectTimeoutError as exc:
        if "ready message" in str(exc) and settings.tls_type is not TlsType.TLS:
            raise ConnectFailure(
                "greeting",
                f"connected to {where} but no greeting within {settings.timeout:g}s",
                hint=f'port {settings.port} may expect implicit TLS: set tls_type = "TLS" '
                "(usually port 465), or raise timeout for a slow server",
            ) from exc
        raise ConnectFailure(
            "connect",
            f"timed out after {settings.timeout:g}s connecting to {where}",
            hint="check host, port and firewall; raise timeout for a slow server",
        ) from exc
    except SMTPConnectResponseError as exc:
        raise ConnectFailure(
            "greeting",
            f"server refused the session: {exc.code} {exc.message}",
            code=exc.code,
            hint="the server is busy or does not accept us; try again later",
        ) from exc
    except (SMTPException, OSError) as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        if isinstance(cause, ssl.SSLError):
            raise _tls_failure("tls", cause, settings) from exc
        if isinstance(cause, ConnectionRefusedError):
            raise ConnectFailure(
                "connect",
                f"connection to {where} refused",
                hint="check host and port, and that the SMTP server is running",
            ) from exc
        if isinstance(cause, SMTPServerDisconnected) or "Connection lost" in str(exc):
            hint = ""
            if settings.tls_type is not TlsType.TLS:
                hint = f'port {settings.port} may expect implicit TLS: set tls_type = "TLS"'
            raise ConnectFailure(
                "greeting", f"{where} closed the connection before its greeting", hint=hint
            ) from exc
        raise ConnectFailure("connect", f"cannot connect to {where}: {cause}") from exc
    if hook:
        implicit = settings.tls_type is TlsType.TLS
        hook("connect", f"{where} over {'implicit TLS' if implicit else 'plain TCP'}")
        if implicit:
            hook("tls", _tls_detail(client, settings))
        hook("greeting", f"{greeting.code} {greeting.message}")
    return greeting


def _tls_detail(client: aiosmtplib.SMTP, settings: SmtpSettings) -> str:
    version = client.get_transport_info("sslobject")
    proto = version.version() if version is not None else "TLS"
    check = (
        "certificate NOT verified (tls_skip_verify)"
        if settings.tls_skip_verify
        else (f"certificate verified for {settings.host}")
    )
    return f"{proto}, {check}"


async def _ehlo(client: aiosmtplib.SMTP, hook: StepHook | None) -> None:
    response = await client.ehlo()
    if hook:
        names = " ".join(sorted(k.upper() for k in client.esmtp_extensions)) or "(none)"
        hook("ehlo", f"{response.code} {response.message.splitlines()[0]}; extensions: {names}")


async def _starttls(client: aiosmtplib.SMTP, settings: SmtpSettings, hook: StepHook | None) -> None:
    if not client.supports_extension("starttls"):
        raise ConnectFailure(
            "starttls",
            "the server does not offer STARTTLS",
            hint='use tls_type = "TLS" for an implicit-TLS port (465); tls_type = "none" only '
            "for a trusted local relay",
        )
    try:
        await client.starttls()
    except ssl.SSLError as exc:
        client.close()
        raise _tls_failure("starttls", exc, settings) from exc
    except SMTPResponseException as exc:
        raise ConnectFailure(
            "starttls", f"refused: {exc.code} {exc.message}", code=exc.code
        ) from exc
    if hook:
        hook("starttls", _tls_detail(client, settings))
    await _ehlo(client, hook)


async def _auth(
    client: aiosmtplib.SMTP, settings: SmtpSettings, password: str, hook: StepHook | None
) -> None:
    mechanism = _MECHANISMS[settings.auth_protocol]
    offered = [m.upper() for m in client.server_auth_methods]
    if not client.supports_extension("auth"):
        on_tls = client.get_transport_info("sslcontext") is not None
        raise ConnectFailure(
            "auth",
            "the server does not offer AUTH" + ("" if on_tls else " on a plain connection"),
            hint='set tls_type = "STARTTLS" or "TLS": servers offer AUTH only after TLS'
            if not on_tls
            else 'set auth_protocol = "none" if this server needs no login',
            auth_failed=True,
        )
    if mechanism not in offered:
        raise ConnectFailure(
            "auth",
            f"the server does not offer AUTH {mechanism} (it offers {' '.join(offered)})",
            hint="set auth_protocol to one of: "
            + ", ".join(k.value for k, v in _MECHANISMS.items() if v in offered),
            auth_failed=True,
        )
    method = {
        AuthProtocol.PLAIN: client.auth_plain,
        AuthProtocol.LOGIN: client.auth_login,
        AuthProtocol.CRAM: client.auth_crammd5,
    }[settings.auth_protocol]
    redact = credential_redactor(settings.username, password)  # replies may echo AUTH
    try:
        response = await method(settings.username, password)
    except SMTPAuthenticationError as exc:
        raise ConnectFailure(
            "auth",
            f"authentication failed: {exc.code} {redact(exc.message)}",
            code=exc.code,
            hint=f"check username ({settings.username}) and password for {settings.label}",
            auth_failed=True,
        ) from None
    except SMTPResponseException as exc:
        raise ConnectFailure("auth", f"{exc.code} {redact(exc.message)}", code=exc.code) from None
    if hook:
        detail = f"{response.code} {redact(response.message)}"
        hook("auth", f"{mechanism} as {settings.username}: {detail}")


async def open_connection(
    settings: SmtpSettings,
    tls_context: ssl.SSLContext | None,
    local_hostname: str,
    password: str,
    hook: StepHook | None = None,
) -> aiosmtplib.SMTP:
    """Connect, greet, EHLO, TLS as configured, AUTH; raise ConnectFailure saying what to fix."""
    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        local_hostname=local_hostname,
        timeout=settings.timeout,
        use_tls=settings.tls_type is TlsType.TLS,
        start_tls=False,
        tls_context=tls_context,
    )
    await _connect(client, settings, hook)
    try:
        await _ehlo(client, hook)
        if settings.tls_type is TlsType.STARTTLS:
            await _starttls(client, settings, hook)
        if settings.auth_protocol is not AuthProtocol.NONE and settings.username:
            await _auth(client, settings, password, hook)
    except ConnectFailure:
        client.close()
        raise
    except SMTPTimeoutError as exc:
        client.close()
        raise ConnectFailure(
            "session", f"no reply within {settings.timeout:g}s", hint="raise timeout"
        ) from exc
    except SMTPResponseException as exc:
        client.close()
        raise ConnectFailure("session", f"{exc.code} {exc.message}", code=exc.code) from exc
    except (SMTPException, OSError) as exc:
        client.close()
        raise ConnectFailure("session", f"connection lost: {exc}") from exc
    return client
