"""Which addresses an import has met so far, and on which line: exact, memory bounded.

Keys are kept as 64-bit hashes of the address key (a collision, odds about n²/2**65, would
report a row as a duplicate), each with the line it was first met on. Up to `limit` of them
live in a Python dict: ~110 bytes each, about 0.5 µs a row. Past that they move to a private
temporary SQLite file that SQLite deletes on close: memory stops growing (~70 MB at the
default limit), at a cost of about 7 µs a row measured on a 2-core machine, which is why the
limit is high. The line is kept on disk too, so a duplicate always names its first line.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

from campaignd.errors import CampaigndError

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 640_000  # ~70 MB of dict entries
_CHUNK = 500  # SQL variables per query, well under SQLite's limit


class SeenAddresses:
    """A map of address hashes to the line first met on, asked one batch at a time in order."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._limit = limit
        self._memory: dict[int, int] | None = {}
        self._db: sqlite3.Connection | None = None

    def first_time(self, hashes: Sequence[int]) -> list[bool]:
        """For each hash in order: True if it was not met before (in this call or earlier)."""
        return [line is None for line in self.earlier(hashes, [0] * len(hashes))]

    def earlier(self, hashes: Sequence[int], lines: Sequence[int]) -> list[int | None]:
        """For each hash in order: None if it was not met before (it is remembered with its
        line from `lines`), else the line it was first met on."""
        if self._memory is not None:
            seen = self._memory
            result: list[int | None] = []
            for h, line in zip(hashes, lines, strict=True):
                first = seen.get(h)
                if first is None:
                    seen[h] = line
                result.append(first)
            if len(seen) > self._limit:
                self._spill()
            return result
        return self._earlier_on_disk(hashes, lines)

    def _spill(self) -> None:
        assert self._memory is not None
        try:
            # "" is a private temporary database on disk, deleted when the connection closes.
            db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("CREATE TABLE seen (h INTEGER PRIMARY KEY, line INTEGER NOT NULL)")
            db.execute("BEGIN")
            db.executemany("INSERT INTO seen VALUES (?, ?)", self._memory.items())
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise CampaigndError(f"cannot keep track of duplicate addresses: {exc}") from exc
        log.debug(
            "duplicate check moved %d addresses to a temporary file",
            len(self._memory),
            extra={"action": "import.spill"},
        )
        self._db, self._memory = db, None

    def _earlier_on_disk(self, hashes: Sequence[int], lines: Sequence[int]) -> list[int | None]:
        assert self._db is not None
        try:
            before: dict[int, int] = {}
            for i in range(0, len(hashes), _CHUNK):
                chunk = hashes[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT h, line FROM seen WHERE h IN ({marks})"  # only ? placeholders
                before.update(self._db.execute(query, chunk))
            result: list[int | None] = []
            fresh: list[tuple[int, int]] = []
            for h, line in zip(hashes, lines, strict=True):
                first = before.get(h)
                if first is None:
                    before[h] = line  # a later copy in this batch is a duplicate
                    fresh.append((h, line))
                result.append(first)
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO seen VALUES (?, ?)", fresh)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise CampaigndError(f"cannot keep track of duplicate addresses: {exc}") from exc
        return result

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._memory = {}
