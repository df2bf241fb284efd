"""An import file's bytes as text: plain, .gz or the one .csv in a .zip; UTF-8, UTF-16 (BOM) or
the encoding given (``--encoding``); a binary file (image, spreadsheet, ...) is named, not read."""

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

#: Leading bytes of formats people export instead of CSV, and what to call them.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (.xls/.doc)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program (ELF)"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
)
#: Members that make a zip file an office document rather than an archive of CSV files.
_OFFICE = (
    ("xl/", "an Excel workbook (.xlsx)"),
    ("word/", "a Word document (.docx)"),
    ("ppt/", "a PowerPoint file (.pptx)"),
    ("content.xml", "an OpenDocument file (.ods/.odt)"),
)
_SNIFF = 4096  # bytes looked at for a NUL in the header (UTF-16 has a BOM or --encoding)


def parse_encoding(name: str) -> str:
    """A text encoding's canonical name (``latin-1`` -> ``iso8859-1``). Raise InvalidInput."""
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL or a lone surrogate in the name
        raise InvalidInput(
            f"--encoding: unknown encoding {name!r} (e.g. utf-8, latin-1, cp1252)"
        ) from None
    if not getattr(info, "_is_text_encoding", True):
        raise InvalidInput(f"--encoding: {name!r} is not a text encoding")
    return info.name


def not_text(what: str) -> str:
    return f"not a text CSV file: looks like {what}; export it as CSV (UTF-8) and import that"


class TextSource:
    """An import file opened as text; knows its size and how far its bytes have been read."""

    def __init__(self, path: Path, encoding: str | None = None) -> None:
        self.path = path
        self.encoding = encoding  # None: UTF-8, or UTF-16 by its BOM
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
        self._refuse_binary(stream, encoding)
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
            names_in = [i.filename for i in archive.infolist()]
            for prefix, what in _OFFICE:
                if any(n.startswith(prefix) for n in names_in):
                    raise self.fail(not_text(what))
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

    def _encoding(self, stream: IO[bytes] | gzip.GzipFile) -> str:
        if self.encoding is not None:
            encoding = parse_encoding(self.encoding)
            return "utf-8-sig" if encoding == "utf-8" else encoding
        head = _peek(stream)[:4]
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        return "utf-8-sig"

    def _refuse_binary(self, stream: IO[bytes] | gzip.GzipFile, encoding: str) -> None:
        """Raise InvalidInput naming the format of a file that is not text."""
        head = _peek(stream)[:_SNIFF]
        for magic, what in _MAGIC:
            if head.startswith(magic):
                raise self.fail(not_text(what))
        # A NUL in a data row is that row's error (csvrows); one in the header line is no CSV.
        header = head.partition(b"\n")[0].partition(b"\r")[0]
        if b"\x00" in header and not encoding.startswith(("utf-16", "utf-32", "utf_16", "utf_32")):
            raise self.fail(not_text("binary data (NUL bytes in its first line)"))

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


def _peek(stream: IO[bytes] | gzip.GzipFile) -> bytes:
    peek = getattr(stream, "peek", None)
    return peek(_SNIFF) if peek is not None else b""


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, zlib.error):
        return f"the compressed data is damaged ({exc})"
    return str(exc) or type(exc).__name__
