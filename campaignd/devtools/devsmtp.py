"""A local capture SMTP server for demos and development: every message becomes one .eml file.

    python -m campaignd.devtools.devsmtp --port 2525 --dir ./outbox

Plain SMTP on loopback only, no TLS or AUTH: point an [[smtp]] entry at it with
tls_type = "none" and auth_protocol = "none". Never expose it to a network.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import re
import socket
import time
from pathlib import Path

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for local servers in demos and tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> bool:
    """Wait until something listens on 127.0.0.1:port; False if nothing did in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


_MAX_LINE = 8192
_MAX_MESSAGE = 50 * 1024 * 1024
_ADDRESS = re.compile(rb"^(?:FROM|TO):\s*<([^<>]*)>", re.IGNORECASE)


class _Session:
    def __init__(self, server: CaptureServer) -> None:
        self.server = server
        self.sender: bytes | None = None
        self.recipients: list[bytes] = []

    def reset(self) -> None:
        self.sender = None
        self.recipients = []

    async def read_data(self, reader: asyncio.StreamReader) -> bytes | None:
        """Lines up to the lone ".", dots unstuffed; None if the message is too big."""
        chunks: list[bytes] = []
        size = 0
        while True:
            line = await reader.readuntil(b"\n")
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size <= _MAX_MESSAGE:
                chunks.append(line)
        return b"".join(chunks) if size <= _MAX_MESSAGE else None

    def command(self, line: bytes) -> tuple[bytes, bool]:
        """The reply to one command line, and whether to close afterwards."""
        verb, _, arg = line.strip().partition(b" ")
        verb = verb.upper()
        if verb == b"EHLO":
            self.reset()
            return (
                b"250-campaignd-devsmtp\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
                b"250 SIZE %d\r\n" % _MAX_MESSAGE,
                False,
            )
        if verb == b"HELO":
            self.reset()
            return b"250 campaignd-devsmtp\r\n", False
        if verb == b"MAIL":
            m = _ADDRESS.match(arg)
            if m is None:
                return b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n", False
            self.reset()
            self.sender = m.group(1)
            return b"250 2.1.0 OK\r\n", False
        if verb == b"RCPT":
            m = _ADDRESS.match(arg)
            if self.sender is None:
                return b"503 5.5.1 MAIL first\r\n", False
            if m is None or not m.group(1):
                return b"501 5.5.4 Syntax: RCPT TO:<address>\r\n", False
            self.recipients.append(m.group(1))
            return b"250 2.1.5 OK\r\n", False
        if verb == b"DATA":
            if not self.recipients:
                return b"503 5.5.1 RCPT first\r\n", False
            return b"354 End data with <CR><LF>.<CR><LF>\r\n", False
        if verb == b"RSET":
            self.reset()
            return b"250 2.0.0 OK\r\n", False
        if verb == b"NOOP":
            return b"250 2.0.0 OK\r\n", False
        if verb == b"QUIT":
            return b"221 2.0.0 Bye\r\n", True
        return b"502 5.5.2 Command not implemented\r\n", False


class CaptureServer:
    """Accepts every message and writes it to `outdir` as NNNNNN-<time>.eml (atomically)."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.count = 0
        self._seq = itertools.count(1)

    def _write(self, data: bytes) -> Path:
        n = next(self._seq)
        path = self.outdir / f"{n:06d}-{time.time_ns()}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return path

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self)
        try:
            writer.write(b"220 campaignd-devsmtp ESMTP capture server\r\n")
            while True:
                line = await reader.readuntil(b"\n")
                reply, close = session.command(line)
                writer.write(reply)
                await writer.drain()
                if close:
                    break
                if reply.startswith(b"354"):
                    data = await session.read_data(reader)
                    if data is None:
                        writer.write(b"552 5.3.4 Message too big\r\n")
                    else:
                        path = await asyncio.to_thread(self._write, data)
                        self.count += 1
                        log.debug("captured %s", path.name, extra={"action": "devsmtp.capture"})
                        writer.write(b"250 2.0.0 OK queued as %s\r\n" % path.stem.encode())
                    session.reset()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()


async def start(host: str, port: int, outdir: Path) -> tuple[asyncio.Server, CaptureServer]:
    """Start listening (port 0 picks a free port); the caller closes the returned server."""
    await asyncio.to_thread(outdir.mkdir, parents=True, exist_ok=True)
    capture = CaptureServer(outdir)
    server = await asyncio.start_server(capture.handle, host, port, limit=_MAX_LINE)
    return server, capture


async def serve(host: str, port: int, outdir: Path) -> None:
    """Run until cancelled, writing one .eml per message to `outdir`."""
    server, _ = await start(host, port, outdir)
    bound = server.sockets[0].getsockname()
    log.info(
        "capturing mail on %s:%s into %s",
        bound[0],
        bound[1],
        outdir,
        extra={"action": "devsmtp.start"},
    )
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m campaignd.devtools.devsmtp",
        description="Capture SMTP server: every message becomes one .eml file.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1]")
    parser.add_argument("--port", type=int, default=2525, help="port to listen on [2525]")
    parser.add_argument("--dir", type=Path, default=Path("outbox"), help="where .eml files go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
