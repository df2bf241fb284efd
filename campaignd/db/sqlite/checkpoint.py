"""Background WAL checkpoints beside one import's writer connection (SqliteBulk)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

#: WAL frames (64 MB at 4 KB pages) after which the WAL starts over, as the autocheckpoint.
_WAL_FRAMES = 16384
#: Commits between two background checkpoints (each syncs the files once).
_COMMITS_PER_CHECKPOINT = 2
#: Commits during one background checkpoint after which the writer waits for it to end
#: (a slow disk): the WAL stays bounded.
_COMMITS_BEHIND = 6


class Checkpointer:
    """Copies the WAL into the database file on a thread of its own, beside the writer.

    The writer's connection has its autocheckpoint off. Every few commits the thread runs a
    passive checkpoint (SQLite runs it without the GIL, concurrently with the writer's next
    transactions). Once the WAL holds _WAL_FRAMES frames, the writer copies itself the few
    frames committed since the thread's last pass, and its next transaction starts the WAL
    over from its beginning: the autocheckpoint's bounded WAL, with most of the copying and
    the fsyncs off the writer's path. Should a pass take longer than _COMMITS_BEHIND
    commits, the writer waits for it.
    """

    def __init__(self, path: Path, timeout_s: float) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._frames = 0  # frames in the WAL at the thread's last pass
        self._commits = 0
        self._thread = threading.Thread(target=self._loop, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        conn = sqlite3.connect(self._path, timeout=self._timeout_s, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            while True:
                with self._cond:
                    while not (self._busy or self._stopping):
                        self._cond.wait()
                    if self._stopping:
                        return
                try:
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    frames = _WAL_FRAMES  # let the writer's own checkpoint settle it
                with self._cond:
                    self._frames = frames
                    self._busy = False
                    self._cond.notify_all()
        finally:
            conn.close()

    def after_commit(self, conn: sqlite3.Connection) -> None:
        with self._cond:
            self._commits += 1
            if self._busy:
                if self._commits < _COMMITS_BEHIND:
                    return
                while self._busy:
                    self._cond.wait()
            finish = self._frames >= _WAL_FRAMES
            if finish:
                self._frames = self._commits = 0
            elif self._commits >= _COMMITS_PER_CHECKPOINT:
                self._commits = 0
                self._busy = True
                self._cond.notify()
        if finish:
            with contextlib.suppress(sqlite3.Error):  # the batch is committed whatever happens
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()
