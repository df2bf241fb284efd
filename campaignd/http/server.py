"""Serve the ASGI app with uvicorn inside the daemon's own event loop (a supervised side task).

The daemon owns the signals: uvicorn's own handlers are left out, and `stop()` asks the server
to finish its open requests and return. Access logs are off (paths carry tokens); handlers log
what they do without them. Slow or idle clients are cut off by campaignd.http.guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

from campaignd.config import HttpSettings
from campaignd.errors import ConfigError
from campaignd.http.guard import ConnectionGuard

log = logging.getLogger(__name__)

#: Open connections (and running requests) beyond this get 503 from uvicorn.
MAX_CONNECTIONS = 200


def guard_of(http: HttpSettings) -> ConnectionGuard:
    """The connection limits of `[http]`."""
    return ConnectionGuard(
        header_timeout=http.header_timeout,
        body_timeout=http.body_timeout,
        max_per_client=http.max_connections_per_client,
        exempt=frozenset(http.proxy_addresses),
    )


def parse_listen(listen: str, key: str = "http.listen") -> tuple[str, int]:
    """("host", port) from "host:port" or "[v6]:port"; raise ConfigError naming `key`."""
    host, sep, port_text = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(key, "must be HOST:PORT, such as 127.0.0.1:9000")
    return host, int(port_text)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the daemon's signal handlers stay in charge


class HttpServer:
    """Bind at `start()`, serve in an owned task, stop gracefully with `stop()`."""

    def __init__(
        self,
        app: ASGIApp,
        listen: str,
        *,
        shutdown_timeout: float = 5.0,
        guard: ConnectionGuard | None = None,
        key: str = "http.listen",
        name: str = "http",
    ) -> None:
        self.key, self.name = key, name
        self.host, self.port = parse_listen(listen, key)
        self.guard = guard or ConnectionGuard()
        config = uvicorn.Config(
            app,
            http=self.guard.protocol(),  # h11 with request deadlines and a per-client cap
            ws="none",
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=max(1, int(shutdown_timeout)),
            limit_concurrency=MAX_CONNECTIONS,
        )
        self._server = _Server(config)
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    def bind(self) -> tuple[str, int]:
        """Open the listening socket now (so a busy port fails at start); return the address."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto IPPROTO_TCP, not 0: accepted sockets inherit it, and asyncio sets TCP_NODELAY
        # only on sockets that say TCP. Without it a response written in two parts (headers,
        # then body) waits for the client's delayed ACK: 40 ms per pixel on a kept-alive
        # connection (uvloop sets it regardless).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                self.key, f"cannot listen on {self.host}:{self.port}: {exc.strerror}"
            ) from exc
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        self.port = int(sock.getsockname()[1])
        return self.host, self.port

    def start(self) -> asyncio.Task[None]:
        if self._socket is None:
            self.bind()
        assert self._socket is not None
        self._task = asyncio.create_task(self._serve(self._socket), name=self.name)
        log.info(
            "%s endpoint listening on %s:%d",
            "admin API" if self.name == "api" else "HTTP",
            self.host,
            self.port,
            extra={"action": f"{self.name}.start"},
        )
        return self._task

    async def _serve(self, sock: socket.socket) -> None:
        try:
            await self._server.serve(sockets=[sock])
        finally:
            sock.close()

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
