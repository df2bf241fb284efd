"""An import file's bytes as text: plain, .gz or the one .csv in a .zip; UTF-8 or UTF-16 (BOM)."""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import zipfile
import zlib
from pathlib import Path
from typing import IO

from campaignd.errors import InvalidInput

#: What reading an import file may raise besides InvalidInput (see ``describe``).
READ_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, UnicodeError)


class TextSource:
    """An import file opened as text; knows its size and how far its bytes have been read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0  # the total that position() counts towards
        self._disk: IO[bytes] | None = None
        self._member: IO[bytes] | gzip.GzipFile | None = None
        self._text: io.TextIOWrapper | None = None

    def fail(self, problem: str) -> InvalidInput:
        return InvalidInput(f"cannot import {self.path}: {problem}")

    def open(self) -> io.TextIOWrapper:
        """The file's text (``surrogateescape``, newlines kept). Raise InvalidInput for a zip
        file without one readable .csv file, one of READ_ERRORS when it cannot be read."""
        disk = self._disk = self.path.open("rb")
        self.size = self.path.stat().st_size
        magic = disk.read(4)
        disk.seek(0)
        stream: IO[bytes] | gzip.GzipFile
        if magic.startswith(b"\x1f\x8b"):
            stream = self._member = gzip.GzipFile(fileobj=disk, mode="rb")
        elif magic.startswith(b"PK\x03\x04") or magic.startswith(b"PK\x05\x06"):
            archive = zipfile.ZipFile(disk)
            member = self._zip_member(archive)
            self.size = member.file_size
            try:
                stream = self._member = archive.open(member)
            except (RuntimeError, NotImplementedError) as exc:  # e.g. a compression method
                why = f"cannot read {member.filename!r} in the zip file: {exc}"
                raise self.fail(why) from exc
        else:
            stream = disk
        encoding = self._encoding(stream)
        self._text = io.TextIOWrapper(
            stream, encoding=encoding, errors="surrogateescape", newline=""
        )
        return self._text

    def _zip_member(self, archive: zipfile.ZipFile) -> zipfile.ZipInfo:
        """The one .csv file in the archive (macOS's __MACOSX/ and ._ copies aside)."""
        members = [
            i
            for i in archive.infolist()
            if not i.is_dir()
            and i.filename.lower().endswith(".csv")
            and not i.filename.startswith("__MACOSX/")
            and not i.filename.rpartition("/")[2].startswith("._")
        ]
        if not members:
            names = ", ".join(repr(i.filename) for i in archive.infolist()[:10]) or "nothing"
            raise self.fail(f"the zip file holds no .csv file (it holds {names})")
        if len(members) > 1:
            names = ", ".join(repr(i.filename) for i in members[:10])
            raise self.fail(
                f"the zip file holds {len(members)} .csv files ({names}); import them one at a time"
            )
        member = members[0]
        if member.flag_bits & 0x1:
            raise self.fail(
                f"{member.filename!r} in the zip file is encrypted (password-protected); "
                "extract it and import the .csv file"
            )
        return member

    @staticmethod
    def _encoding(stream: IO[bytes] | gzip.GzipFile) -> str:
        peek = getattr(stream, "peek", None)
        head = peek(4)[:4] if peek is not None else b""
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        return "utf-8-sig"

    def position(self) -> int:
        """Bytes consumed towards `size` (compressed bytes for .gz, the member's for .zip)."""
        try:
            if isinstance(self._member, zipfile.ZipExtFile):
                return min(self._member.tell(), self.size)
            if self._disk is not None:
                return min(self._disk.tell(), self.size)
        except (OSError, ValueError):
            pass
        return 0

    def close(self) -> None:
        for fh in (self._text, self._member, self._disk):
            if fh is not None:
                with contextlib.suppress(*READ_ERRORS):
                    fh.close()
        self._text = self._member = self._disk = None


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, zlib.error):
        return f"the compressed data is damaged ({exc})"
    return str(exc) or type(exc).__name__
