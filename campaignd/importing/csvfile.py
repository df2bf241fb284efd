"""Reading an import file as CSV rows (the file opened and decoded by csvsource.TextSource).

Streams: a physical line is read at most MAX_LINE characters at a time, so memory stays flat
whatever the file holds. Bytes that are not valid in the encoding are kept as lone surrogates
(``surrogateescape``) and the row that holds them is reported by csvrows, not here.

A quote left open on one row would make the rest of the file one quoted field. A quoted field
may span lines, so a record of several lines is accepted only when it is plainly one: none of
its later lines reads as a row of its own (strict CSV, the header's column count, a valid
address), it is strict CSV as a whole (its closing quote followed by a delimiter or the line's
end), and it ends before the end of the file and within MAX_RECORD. Otherwise its first line is
reported ("quote never closed") and each of its later lines is read as a row of its own: every
line costs at most two reads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from campaignd.addresses import normalize_email
from campaignd.errors import InvalidInput
from campaignd.importing.csvrows import Columns, RowError, parse_header, raw_text
from campaignd.importing.csvsource import READ_ERRORS, TextSource, describe

MAX_LINE = 1024 * 1024  # characters in one physical line; longer lines are reported
MAX_RECORD = 4 * MAX_LINE  # characters in one record (quoted fields may span lines)
_OVERSIZE = "\x00\n"  # stands in for a discarded line; csvrows rejects NUL
# A record only continues past a line inside a quoted field, so this always ends it.
_END_QUOTED_RECORD = '"\n'
# Why a record of several lines was cut short (CsvFile._broken).
_RUNS_INTO_ROW = "runs on into the rows after it"
_RUNS_TO_END = "runs to the end of the file"
_RUNS_TOO_LONG = f"runs on for more than {MAX_RECORD} characters"

Row = tuple[int, list[str]] | RowError
_DELIMITER_NAMES = {
    ",": ("commas", ","),
    ";": ("semicolons", ";"),
    "\t": ("tabs", "\\t"),
    "|": ("'|'", "|"),
}


def parse_delimiter(value: str) -> str:
    """One character; `\\t` and `tab` mean a tab. Raise InvalidInput."""
    if value in ("\\t", "tab", "TAB"):
        return "\t"
    if len(value) != 1 or value in ('"', "\r", "\n", "\x00"):
        raise InvalidInput(f"--delimiter must be one character other than a quote, got {value!r}")
    return value


class CsvFile:
    """An open import file: its header columns, then numbered rows; knows how far it has read."""

    def __init__(self, path: Path, delimiter: str = ",", encoding: str | None = None) -> None:
        self.path = path
        self.delimiter = delimiter
        self.size = 0  # the total that position() counts towards
        self._source = TextSource(path, encoding)
        self._text: io.TextIOWrapper | None = None
        self._line = 0  # physical lines read so far
        self._record_chars = 0  # characters read for the record being parsed
        self._reader: Iterator[list[str]] = iter(())
        self._oversize: set[int] = set()
        # The lines of the record being read once it spans more than one, and why it was cut.
        self._spill: list[str] = []
        self._broken: str | None = None
        self.columns: Columns | None = None

    def open(self) -> CsvFile:
        """Open the file and read its header. Raise InvalidInput for a file-level problem."""
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __enter__(self) -> CsvFile:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._source.close()
        self._text = None

    def _fail(self, problem: str) -> InvalidInput:
        return self._source.fail(problem)

    def _open(self) -> None:
        try:
            self._text = self._source.open()
            self.size = self._source.size
            self._reader = csv.reader(self._lines(), delimiter=self.delimiter, strict=False)
            header = self._next_row()
        except InvalidInput:
            raise
        except READ_ERRORS as exc:
            raise self._fail(describe(exc)) from exc
        if header is None:
            raise self._fail("the file is empty (a header row with an 'email' column is needed)")
        if isinstance(header, RowError):
            raise self._fail(f"the header row cannot be read: {header.error}")
        try:
            self.columns = parse_header(header[1])
        except InvalidInput as exc:
            raise self._fail(f"{exc}{_delimiter_hint(header[1], self.delimiter)}") from None

    @property
    def encoding(self) -> str | None:
        """The encoding given (None: UTF-8, or UTF-16 by its BOM)."""
        return self._source.encoding

    def position(self) -> int:
        """Bytes consumed towards `size` (compressed bytes for .gz, the member's for .zip)."""
        return self._source.position()

    def _lines(self) -> Iterator[str]:
        """Physical lines for the csv reader; watches the records that span lines (see above)."""
        assert self._text is not None
        readline = self._text.readline
        spill = self._spill
        first = ""  # the first line of the record being read
        while True:
            line = readline(MAX_LINE)
            if not line:
                if self._record_chars:  # the reader wanted more: the file ends inside a quote
                    self._broken = _RUNS_TO_END
                    if not spill:
                        spill.append(first)
                return
            self._line += 1
            if len(line) == MAX_LINE and line[-1] not in "\r\n":
                while True:  # drop the rest of this physical line, in bounded pieces
                    more = readline(MAX_LINE)
                    if len(more) < MAX_LINE or more[-1] in "\r\n":
                        break
                self._oversize.add(self._line)
                line = _OVERSIZE
            if not self._record_chars:  # the first line of a record
                self._record_chars = len(line)
                first = line
                yield line
                continue
            # The reader asks for another line: it is inside a quoted field.
            if not spill:
                spill.append(first)
            spill.append(line)
            self._record_chars += len(line)
            if self._record_chars > MAX_RECORD:
                self._broken = _RUNS_TOO_LONG
            elif self._row_like(line):
                self._broken = _RUNS_INTO_ROW
            else:
                yield line
                continue
            yield _END_QUOTED_RECORD  # ends the record here; its lines are read again

    def _row_like(self, line: str) -> bool:
        """Whether a line inside a quoted field reads as a good row of its own."""
        columns = self.columns
        if columns is None:
            return False
        try:
            cells = next(csv.reader((line,), delimiter=self.delimiter, strict=True), None)
        except csv.Error:
            return False
        if cells is None or len(cells) != columns.width or _stray_quote(line, self.delimiter):
            return False
        try:
            normalize_email(cells[columns.email])
        except InvalidInput:
            return False
        return True

    def _take_spill(self, start: int, error: str | None) -> tuple[list[str], str | None]:
        """The lines of a record of several lines, and why it is not a row (None: it is)."""
        lines = list(self._spill)
        self._spill.clear()
        broken, self._broken = self._broken, None
        end = start + len(lines) - 1
        if error is not None:
            why = f"quote never closed? a quoted field on this line runs on into line {end}"
            return lines, f"{why} and is not valid CSV ({error})"
        if broken is not None:
            return lines, f"quote never closed: a quoted field on this line {broken}"
        try:
            records = list(csv.reader(lines, delimiter=self.delimiter, strict=True))
        except csv.Error as exc:
            why = f"quote never closed properly: a quoted field on this line ends inside line {end}"
            return lines, f"{why} ({exc})"
        if len(records) != 1:
            return lines, f"quote never closed properly: the row runs on into line {end}"
        return lines, None

    def _reread(self, start: int, lines: list[str], problem: str) -> Iterator[Row]:
        """Report a record of several lines that is not a row; read its later lines alone."""
        end = start + len(lines) - 1
        if end > start:
            if end == start + 1:
                problem += f"; line {end} is read as a row of its own"
            else:
                problem += f"; lines {start + 1}-{end} are read as rows of their own"
        yield RowError(start, problem, raw_text([lines[0].rstrip("\r\n")], self.delimiter))
        for number, line in enumerate(lines[1:], start + 1):
            row = self._alone(number, line)
            if row is not None:
                yield row

    def _alone(self, number: int, line: str) -> Row | None:
        """One physical line read as a record by itself (None for a blank line)."""
        if number in self._oversize:
            return RowError(number, f"the row is longer than {MAX_LINE} characters", "")
        wanted_more = False

        def feed() -> Iterator[str]:
            nonlocal wanted_more
            yield line
            wanted_more = True

        try:
            cells = next(csv.reader(feed(), delimiter=self.delimiter, strict=False), [])
        except csv.Error as exc:
            return RowError(number, f"the row is not valid CSV: {exc}", "")
        if wanted_more:
            return RowError(
                number,
                "quote never closed: a quoted field on this line does not end on it",
                raw_text([line.rstrip("\r\n")], self.delimiter),
            )
        return (number, cells) if cells else None

    def _next_row(self) -> tuple[int, list[str]] | RowError | None:
        """The next non-blank record with the line it starts on; None at the end."""
        while True:
            start = self._line + 1
            self._record_chars = 0
            try:
                cells = next(self._reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                self._spill.clear()
                return RowError(start, f"the row is not valid CSV: {exc}", "")
            if self._spill:
                _, problem = self._take_spill(start, None)
                if problem is not None:
                    return RowError(start, problem, "")
            if self._oversize and any(n in self._oversize for n in range(start, self._line + 1)):
                return RowError(start, f"the row is longer than {MAX_LINE} characters", "")
            if cells:
                return start, cells

    def rows(self) -> Iterator[Row]:
        """Data rows after the header: (line, cells), or a RowError for an unreadable record.

        Raise InvalidInput when the file itself cannot be read any further.
        """
        reader = self._reader
        oversize = self._oversize
        spill = self._spill
        while True:  # _next_row inlined: this loop runs once per row of a large file
            start = self._line + 1
            self._record_chars = 0
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if not spill:
                    yield RowError(start, f"the row is not valid CSV: {exc}", "")
                    continue
                lines, problem = self._take_spill(start, str(exc))
                assert problem is not None
                yield from self._reread(start, lines, problem)
                continue
            except READ_ERRORS as exc:
                raise self._fail(
                    f"reading stopped after line {self._line}: {describe(exc)}"
                ) from exc
            if spill:
                lines, problem = self._take_spill(start, None)
                if problem is not None:
                    yield from self._reread(start, lines, problem)
                    continue
            if oversize and any(n in oversize for n in range(start, self._line + 1)):
                yield RowError(start, f"the row is longer than {MAX_LINE} characters", "")
            elif cells:
                yield start, cells


def _delimiter_hint(cells: list[str], delimiter: str) -> str:
    """A hint to use --delimiter when another usual delimiter splits the header into columns
    that include `email` (a semicolon file from a European spreadsheet, a tab file)."""
    line = delimiter.join(cells)
    for other in (",", ";", "\t", "|"):
        if other == delimiter or other not in line:
            continue
        try:
            parse_header(next(csv.reader((line,), delimiter=other), []))
        except InvalidInput:
            continue
        name, shown = _DELIMITER_NAMES[other]
        return f"; the columns look separated by {name}: use --delimiter '{shown}'"
    return ""


def _stray_quote(line: str, delimiter: str) -> bool:
    """Whether a quote stands inside an unquoted field (`0",x`): such a line is the tail of a
    quoted field, not a row of its own, though csv's strict mode lets it pass."""
    at_start = True
    quoted = False
    chars = iter(line)
    for ch in chars:
        if at_start:
            at_start = False
            if ch == '"':
                quoted = True
                continue
        if quoted:
            if ch == '"':
                nxt = next(chars, None)
                if nxt == '"':
                    continue
                quoted = False
                if nxt == delimiter:
                    at_start = True
        elif ch == delimiter:
            at_start = True
        elif ch == '"':
            return True
    return False
