"""A fast counting SMTP sink for crash tests: one line per accepted message, written first.

    python -m tests.reliability.sink --out received.txt      # prints the port it listens on

Plain SMTP on 127.0.0.1. Each message's recipients are appended (one O_APPEND write, one line
per message: the RCPT addresses separated by spaces) *before* the 250 reply goes out, so the
file holds every message a client may believe delivered, and the sink survives the client being
killed. Much faster than writing one .eml file per message.

The number of open connections is kept in ``<out>.open`` (ten digits, rewritten in place): a
test that killed its client waits for 0 there, so messages the client wrote just before dying
and still in the kernel's buffers are counted before the test looks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys

_ADDRESS = re.compile(rb"^(?:FROM|TO):\s*<([^<>]*)>", re.IGNORECASE)
_EHLO = b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n"


class Sink:
    def __init__(self, fd: int, open_fd: int) -> None:
        self.fd = fd
        self.open_fd = open_fd
        self.open = 0
        self._count(0)

    def _count(self, change: int) -> None:
        self.open += change
        os.pwrite(self.open_fd, b"%010d" % self.open, 0)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rcpts: list[bytes] = []
        self._count(+1)
        try:
            writer.write(b"220 sink ESMTP\r\n")
            while True:
                line = await reader.readuntil(b"\n")
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(_EHLO)
                elif verb == b"MAIL":
                    rcpts = []
                    writer.write(b"250 2.1.0 OK\r\n")
                elif verb == b"RCPT":
                    m = _ADDRESS.match(line[5:].strip())
                    if m is None:
                        writer.write(b"501 5.5.4 syntax\r\n")
                    else:
                        rcpts.append(m.group(1))
                        writer.write(b"250 2.1.5 OK\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    while (await reader.readuntil(b"\n")) not in (b".\r\n", b".\n"):
                        pass
                    os.write(self.fd, b" ".join(rcpts) + b"\n")
                    rcpts = []
                    writer.write(b"250 2.0.0 OK\r\n")
                elif verb in (b"RSET", b"NOOP", b"HELO"):
                    rcpts = []
                    writer.write(b"250 OK\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"502 5.5.2 not implemented\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            self._count(-1)


async def serve(out: str, port: int) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    open_fd = os.open(f"{out}.open", os.O_WRONLY | os.O_CREAT, 0o600)
    sink = Sink(fd, open_fd)
    server = await asyncio.start_server(sink.handle, "127.0.0.1", port, limit=1 << 20)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.sink")
    parser.add_argument("--out", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(args.out, args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
