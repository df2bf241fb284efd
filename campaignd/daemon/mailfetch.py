"""Blocking IMAP and POP3 clients for the mailbox scanner (run on a thread, one per poll).

Both speak through the standard library (imaplib, poplib); a foreign error becomes a
MailboxError naming the mailbox, never its password. ``MailboxClient`` is the seam the
scanner (campaignd.daemon.mailbox) uses; tests give it an in-memory twin.
"""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import re
import ssl
from collections.abc import Sequence
from typing import Any, Protocol

from campaignd.config.mailbox import AfterScan, MailboxSettings, MailProtocol, MailTls
from campaignd.errors import MailboxError

_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class MailboxClient(Protocol):
    """One open session with a mailbox."""

    def list(self) -> list[tuple[str, int]]:
        """Message ids and sizes in bytes, oldest first, at most max_messages."""
        ...

    def fetch(self, message_id: str) -> bytes: ...

    def finish(self, message_id: str) -> None:
        """Delete or move the message (after = ...)."""
        ...

    def close(self) -> None:
        """Commit the deletions/moves and log out; never raises."""
        ...


def open_mailbox(settings: MailboxSettings) -> MailboxClient:
    """Connect and log in; raise MailboxError."""
    try:
        if settings.protocol is MailProtocol.IMAP:
            return _Imap(settings)
        return _Pop3(settings)
    except (OSError, imaplib.IMAP4.error, poplib.error_proto, ssl.SSLError) as exc:
        raise MailboxError(settings.label, _describe(exc)) from None


def _describe(exc: BaseException) -> str:
    first = exc.args[0] if len(exc.args) == 1 else None
    if isinstance(first, bytes | bytearray):  # imaplib's errors carry the server's bytes
        text = first.decode("utf-8", "replace")
    else:
        text = str(exc) or type(exc).__name__
    return text.strip()[:300]


def tls_context(settings: MailboxSettings) -> ssl.SSLContext:
    if settings.tls_skip_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile = str(settings.tls_ca_file) if settings.tls_ca_file else None
    return ssl.create_default_context(cafile=cafile)


class _Imap:
    def __init__(self, settings: MailboxSettings) -> None:
        self.settings = settings
        host, port, timeout = settings.host, settings.port, settings.timeout
        if settings.tls_type is MailTls.TLS:
            self.conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                host, port, ssl_context=tls_context(settings), timeout=timeout
            )
        else:
            self.conn = imaplib.IMAP4(host, port, timeout=timeout)
        self.moves = settings.after is AfterScan.MOVE
        try:
            self._start()
        except BaseException:
            self.conn.shutdown()  # never leave the socket open behind an error
            raise

    def _start(self) -> None:
        settings = self.settings
        if settings.tls_type is MailTls.STARTTLS:
            self.conn.starttls(ssl_context=tls_context(settings))
        self.conn.login(settings.username, settings.password.get_secret_value())
        self._check(self.conn.select(_quote(settings.folder)), f"select {settings.folder}")
        if self.moves:
            self.conn.create(_quote(settings.move_to))  # "already exists" is fine

    def _check(self, reply: tuple[str, Sequence[Any]], what: str) -> Sequence[Any]:
        status, data = reply
        if status != "OK":
            detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
            raise MailboxError(self.settings.label, f"{what} failed: {detail[:200]}")
        return data

    def list(self) -> list[tuple[str, int]]:
        data = self._check(self.conn.uid("SEARCH", "ALL"), "search")
        uids = [u.decode() for u in (data[0] or b"").split()] if isinstance(data[0], bytes) else []
        uids = uids[: self.settings.max_messages]
        if not uids:
            return []
        sizes: dict[str, int] = {}
        reply = self._check(self.conn.uid("FETCH", ",".join(uids), "(UID RFC822.SIZE)"), "fetch")
        for item in reply:
            line = item[0] if isinstance(item, tuple) else item
            if not isinstance(line, bytes):
                continue
            uid = re.search(rb"UID (\d+)", line)
            size = _SIZE.search(line)
            if uid and size:
                sizes[uid.group(1).decode()] = int(size.group(1))
        return [(u, sizes.get(u, 0)) for u in uids]

    def fetch(self, message_id: str) -> bytes:
        data = self._check(self.conn.uid("FETCH", message_id, "(BODY.PEEK[])"), "fetch")
        for item in data:
            if isinstance(item, tuple) and isinstance(item[1], bytes):
                return item[1]
        raise MailboxError(self.settings.label, f"message {message_id} vanished")

    def finish(self, message_id: str) -> None:
        if self.moves:
            self._check(self.conn.uid("COPY", message_id, _quote(self.settings.move_to)), "copy")
        self._check(self.conn.uid("STORE", message_id, "+FLAGS", r"(\Deleted)"), "delete")

    def close(self) -> None:
        for step in (self.conn.expunge, self.conn.close, self.conn.logout):
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                step()


class _Pop3:
    def __init__(self, settings: MailboxSettings) -> None:
        self.settings = settings
        host, port, timeout = settings.host, settings.port, settings.timeout
        if settings.tls_type is MailTls.TLS:
            self.conn: poplib.POP3 = poplib.POP3_SSL(
                host, port, timeout=timeout, context=tls_context(settings)
            )
        else:
            self.conn = poplib.POP3(host, port, timeout=timeout)
        try:
            if settings.tls_type is MailTls.STARTTLS:
                self.conn.stls(context=tls_context(settings))
            self.conn.user(settings.username)
            self.conn.pass_(settings.password.get_secret_value())
        except BaseException:
            self.conn.close()
            raise

    def list(self) -> list[tuple[str, int]]:
        _, lines, _ = self.conn.list()
        out: list[tuple[str, int]] = []
        for line in lines[: self.settings.max_messages]:
            number, _, size = line.decode("ascii", "replace").partition(" ")
            out.append((number, int(size) if size.isdigit() else 0))
        return out

    def fetch(self, message_id: str) -> bytes:
        _, lines, _ = self.conn.retr(int(message_id))
        return b"\r\n".join(lines) + b"\r\n"

    def finish(self, message_id: str) -> None:
        self.conn.dele(int(message_id))

    def close(self) -> None:
        with contextlib.suppress(OSError, poplib.error_proto):
            self.conn.quit()  # the deletions take effect now


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
