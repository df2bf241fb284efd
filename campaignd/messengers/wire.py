"""SMTP replies read off a live transport in order, several per read or split across reads.

aiosmtplib's protocol parses one reply per read and drops replies that arrive while no command
waits, so commands cannot be pipelined (RFC 2920) through it. A `Wire` takes the transport's
protocol slot over from it after the session is set up: it buffers the server's bytes, cuts
them into whole replies (multi-line ``250-...``/``250 ...``, partial lines, LF or CRLF) and
hands them out in order. The displaced protocol still hears about flow control and about the
end of the connection, so the client object's state (``is_connected``, ``close()``) stays
true; `detach` gives the slot back, for QUIT through aiosmtplib.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from typing import NamedTuple

from campaignd.errors import BadReply, ConnectionLost, ReplyTimeout, WireError

#: The longest reply line we accept (RFC 5321 allows 512 octets; servers exceed it a little).
MAX_LINE = 8192
#: The longest whole reply, continuation lines included.
MAX_REPLY = 4 * MAX_LINE


class Reply(NamedTuple):
    """One SMTP reply: its code and its text, continuation lines joined with newlines."""

    code: int
    message: str


class Wire(asyncio.Protocol):
    """Owns a transport's incoming bytes until `detach`; `write` and `reply` drive a session."""

    def __init__(self, transport: asyncio.Transport, inner: asyncio.BaseProtocol) -> None:
        self._transport = transport
        self._inner = inner
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._lines: list[bytes] = []  # the reply in progress
        self._pending = 0  # its length so far
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        # The waiter's deadline, and one timer for the connection that is moved on, not
        # cancelled, while waits follow each other (a wait is then just a future).
        self._deadline = 0.0
        self._limit = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._failure: WireError | None = None
        self._at_once = _taken_at_once(transport)
        transport.set_protocol(self)

    @classmethod
    def on(cls, transport: asyncio.Transport, inner: asyncio.BaseProtocol) -> Wire:
        """The Wire already attached to `transport`, or a new one taking over from `inner`."""
        current = transport.get_protocol()
        if isinstance(current, Wire):
            return current
        return cls(transport, inner)

    def detach(self) -> None:
        """Give the transport back to the protocol this Wire displaced."""
        if self._transport.get_protocol() is self:
            self._transport.set_protocol(self._inner)

    # -- asyncio.Protocol --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._failure is not None:
            return
        try:
            self._parse(data)
        except BadReply as exc:
            self._fail(exc)
            self._transport.close()
            return
        if self._replies:
            self._wake()

    def eof_received(self) -> bool:
        self._fail(ConnectionLost("the server closed the connection"))
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "connection lost"
        self._fail(ConnectionLost(reason))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # -- parsing -----------------------------------------------------------------------------

    def _parse(self, data: bytes) -> None:
        buffer = self._buffer  # a line begun in an earlier read (it holds no line end)
        if b"\n" not in data:
            buffer += data
        else:
            if buffer:
                buffer += data
                data = bytes(buffer)
                buffer.clear()
            lines = data.split(b"\n")
            buffer += lines.pop()  # what follows the last line end
            for line in lines:
                self._line(line)
        if len(buffer) > MAX_LINE:
            raise BadReply("a reply line is too long")
        if self._pending + len(buffer) > MAX_REPLY:
            raise BadReply("a reply is too long")

    def _line(self, line: bytes) -> None:
        """One reply line without its LF: a continuation kept, or the last one: a Reply."""
        if len(line) >= MAX_LINE:
            raise BadReply("a reply line is too long")
        self._pending += len(line) + 1
        if self._pending > MAX_REPLY:
            raise BadReply("a reply is too long")
        code, mark = line[:3], line[3:4]
        if not (len(code) == 3 and code.isdigit() and mark in (b" ", b"-", b"\r", b"")):
            text = line.decode("utf-8", "replace").strip()[:80]
            raise BadReply(f"not an SMTP reply: {text!r}")
        part = line[4:].strip(b" \t\r\n")
        if mark == b"-":
            self._lines.append(part)
            return
        if self._lines:
            self._lines.append(part)
            part = b"\n".join(self._lines)
            self._lines = []
        self._replies.append(Reply(int(code), part.decode("utf-8", "surrogateescape")))
        self._pending = 0

    # -- waiting -----------------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, failure: WireError) -> None:
        if self._failure is None:
            self._failure = failure
        self._wake()

    def _wait(self, timeout: float) -> asyncio.Future[None]:
        """A future woken by a reply or a failure, or failed with ReplyTimeout after `timeout`."""
        loop = self._loop
        waiter = loop.create_future()
        self._waiter = waiter
        self._limit = timeout
        self._deadline = deadline = loop.time() + timeout
        if self._timer is None or self._timer_at > deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(deadline, self._check_deadline)
            self._timer_at = deadline
        return waiter

    def _check_deadline(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nobody waits: the next wait sets the timer again
        if self._loop.time() >= self._deadline:
            waiter.set_exception(ReplyTimeout(f"no reply within {self._limit:g}s"))
        else:
            self._timer = self._loop.call_at(self._deadline, self._check_deadline)
            self._timer_at = self._deadline

    def _raise(self) -> None:
        failure = self._failure
        if failure is not None:
            raise type(failure)(str(failure))

    @property
    def lost(self) -> bool:
        """Has the connection ended (or broken beyond use)?"""
        return self._failure is not None or self._transport.is_closing()

    @property
    def idle(self) -> bool:
        """Is nothing received and unread (no reply, no partial reply)?"""
        return not (self._replies or self._buffer or self._lines)

    def discard(self) -> None:
        """Forget replies that came while no command waited, as aiosmtplib does."""
        self._replies.clear()
        self._buffer.clear()
        self._lines = []
        self._pending = 0

    def write(self, data: bytes) -> None:
        """Queue bytes for the server; raise ConnectionLost if the connection is gone."""
        if self.lost:
            self._raise()
            raise ConnectionLost("connection lost")
        self._transport.write(data)

    def write_at_once(self, data: bytes, end: bytes) -> bool:
        """Write `data` and `end` together if the kernel certainly takes both in that one write.

        That is when nothing is queued in this process and they fit in the socket's send buffer
        (a plain TCP transport; never over TLS). Then `end` has left the process when this
        returns True. Otherwise write nothing and return False. Raise ConnectionLost instead of
        writing if the connection is gone.
        """
        if len(data) + len(end) > self.room:
            return False
        self.write(data + end)
        return True

    @property
    def room(self) -> int:
        """How many bytes one write surely hands to the kernel whole now (see `write_at_once`)."""
        if self._transport.get_write_buffer_size():
            return 0
        return self._at_once

    async def reply(self, timeout: float) -> Reply:  # noqa: ASYNC109 - a limit per reply, as SMTP has
        """The next reply; raise ReplyTimeout, ConnectionLost or BadReply."""
        if not self._replies:
            self._raise()
            try:
                await self._wait(timeout)
            finally:
                self._waiter = None
            if not self._replies:
                self._raise()
                raise ConnectionLost("connection lost")  # unreachable: woken without cause
        return self._replies.popleft()

    async def replies(self, n: int, timeout: float, into: list[Reply]) -> None:  # noqa: ASYNC109
        """Move the next `n` replies into `into`, each within `timeout` of the one before.

        As `n` calls of `reply`, with one wait for replies that come together: on ReplyTimeout,
        ConnectionLost or BadReply the replies that came before it are in `into`.
        """
        queue = self._replies
        while True:
            while queue and n:
                into.append(queue.popleft())
                n -= 1
            if not n:
                return
            self._raise()
            try:
                await self._wait(timeout)
            finally:
                self._waiter = None

    async def flushed(self, limit: float, poll: float = 0.002) -> None:
        """Wait until every byte written so far has left this process (normally at once)."""
        transport = self._transport
        if transport.get_write_buffer_size():
            deadline = self._loop.time() + limit
            while transport.get_write_buffer_size():
                if self.lost:
                    break
                if self._loop.time() > deadline:
                    raise ReplyTimeout(f"the message was not sent within {limit:g}s")
                await asyncio.sleep(poll)
        if self.lost:
            self._raise()
            raise ConnectionLost("connection lost")


def _taken_at_once(transport: asyncio.Transport) -> int:
    """How many bytes one write on an idle plain TCP connection surely hands to the kernel.

    Half of SO_SNDBUF, read once per connection: Linux reports double the space it gives to
    data (the rest is its own bookkeeping), and TCP normally only grows the buffer. Used right
    after the server's 354, which acknowledges every byte sent before it, so the kernel's send
    queue is empty then. 0 (never) over TLS, whose transport queues and encrypts in this
    process, or when the socket cannot be asked. Should the kernel still take less, the send is
    only counted as unknown where it could have been retried: never a duplicate.
    """
    if transport.get_extra_info("sslcontext") or transport.get_extra_info("ssl_object"):
        return 0
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    try:
        size = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    except (OSError, AttributeError, TypeError):
        return 0
    return max(int(size) // 2, 0)
