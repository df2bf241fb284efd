"""One CSV import's writer: a child process that owns a SqliteBulk and the import's session.

``BulkSession`` runs it (``python -m campaignd.db.sqlite.writer``) for one CSV import, so
SQLite's work and the CSV parsing in the parent use both cores without fighting over one GIL.
Rows travel as one packed string per batch (``bulkrows.pack``). A spare child can be started
ahead of its session (``prestart``). Nothing here imports SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from campaignd.db.sqlite.bulkrows import pack, unpack
from campaignd.db.sqlite.fastimport import SqliteBulk
from campaignd.db.sqlite.upsert import ImportSession
from campaignd.domain import ImportCounts, ImportOptions
from campaignd.errors import CampaigndError, NotFound, StoreError


class BulkSession:
    """One import's writer: a child process that owns a SqliteBulk and the import's session.

    Batches are pipelined: ``submit`` hands a batch to the child and returns once it is on its
    way (it blocks while the child is still busy with the batch before), ``collect`` returns the
    answer to the oldest batch not yet collected, in submission order, raising as the child
    raised it (NotFound or StoreError; a refused batch wrote nothing). Call ``submit`` from one
    thread and ``collect`` from another, so that neither waits for the other.
    """

    def __init__(self, path: Path) -> None:
        writer = _take_spare() or _Writer()
        self._send, self._recv, self._proc = writer.send, writer.recv, writer.proc
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self._submitted = 0
        self._collected = 0
        try:
            self._send.send(str(path))
        except OSError as exc:
            self.close()
            raise StoreError(f"the import writer stopped: {exc}") from exc

    def submit(self, fields: Sequence[str], options: ImportOptions) -> None:
        """Hand one batch to the writer; ``collect`` gets its answer.

        The rows come flat (``email, email_key, name, attributes`` then the next row's) and
        travel as one string (see ``pack``): one copy instead of a pickled object per field.
        Raise StoreError when the writer has stopped (the batch is then not submitted).
        """
        now = dt.datetime.now(dt.UTC)
        packed = pack(fields)
        with self._send_lock:
            try:
                self._send.send((packed, options, now))
            except OSError as exc:
                raise StoreError(f"the import writer stopped: {exc}") from exc
            self._submitted += 1

    def collect(self) -> tuple[ImportCounts, list[int]]:
        """The oldest uncollected batch's (counts, duplicate positions), as
        ``SqliteBulk.import_rows`` with the session; raise NotFound or StoreError."""
        with self._recv_lock:
            if self._collected >= self._submitted:
                raise RuntimeError("collect() without a submitted batch")
            self._collected += 1
            try:
                answer = self._recv.recv()
            except (OSError, EOFError) as exc:
                raise StoreError(f"the import writer stopped: {exc or 'no answer'}") from exc
        kind, value = answer
        if kind == "ok":
            counts, dups = value
            return counts, dups
        if kind == "notfound":
            raise NotFound(value)
        raise StoreError(value)

    def import_rows(
        self, fields: Sequence[str], options: ImportOptions
    ) -> tuple[ImportCounts, list[int]]:
        """``submit`` then ``collect``: one batch at a time."""
        self.submit(fields, options)
        return self.collect()

    def close(self) -> None:
        """End the child (it commits nothing more) and wait for it."""
        _close_writer(self._send, self._recv, self._proc)


class _Writer:
    """A started writer child, waiting for the path of its database."""

    def __init__(self) -> None:
        child_in, out = os.pipe()
        in_, child_out = os.pipe()
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
                [
                    sys.executable,
                    "-m",
                    "campaignd.db.sqlite.writer",
                    str(child_in),
                    str(child_out),
                ],
                pass_fds=(child_in, child_out),
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            os.close(in_)
            os.close(out)
            raise StoreError(f"cannot start the import writer: {exc}") from exc
        finally:
            os.close(child_in)
            os.close(child_out)
        self.send = Connection(out, readable=False)
        self.recv = Connection(in_, writable=False)


_spare: _Writer | None = None
_spare_lock = threading.Lock()


def prestart() -> None:
    """Start a writer child now, for the next BulkSession of this process to use.

    Its interpreter start-up (~0.1 s) then overlaps the caller's. An unused spare ends when
    this process does (its pipe closes) or at ``discard_spare``.
    """
    global _spare
    with _spare_lock:
        if _spare is None:
            _spare = _Writer()


def discard_spare() -> None:
    """End a spare writer that no session took."""
    spare = _take_spare()
    if spare is not None:
        _close_writer(spare.send, spare.recv, spare.proc)


def _take_spare() -> _Writer | None:
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None and spare.proc.poll() is not None:
        _close_writer(spare.send, spare.recv, spare.proc)
        return None
    return spare


def _close_writer(send: Connection, recv: Connection, proc: subprocess.Popen[bytes]) -> None:
    send.close()
    recv.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _serve(inbox: Connection, outbox: Connection) -> None:
    try:
        path = Path(inbox.recv())
    except EOFError:
        return
    bulk = SqliteBulk(path, background_checkpoints=True)
    session = ImportSession()
    try:
        while True:
            try:
                packed, options, now = inbox.recv()
            except EOFError:
                return
            answer: tuple[str, Any]
            try:
                answer = ("ok", bulk.import_columns(unpack(packed), options, now, session))
            except NotFound as exc:
                answer = ("notfound", str(exc))
            except CampaigndError as exc:
                answer = ("error", str(exc))
            except Exception as exc:  # reported to the parent, which goes on
                answer = ("error", f"{type(exc).__name__}: {exc}")
            outbox.send(answer)
    finally:
        bulk.close()


if __name__ == "__main__":
    _serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
    )
