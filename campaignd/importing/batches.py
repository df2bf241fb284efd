"""A CSV file parsed into batches of rows, good or bad, in a worker thread (both import paths)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from campaignd.addresses import address_key
from campaignd.domain import ImportMode
from campaignd.importing.csvfile import CsvFile
from campaignd.importing.csvrows import ParsedRow, RowError, check_row, parse_row, raw_text
from campaignd.importing.report import ImportRequest
from campaignd.importing.seen import SeenAddresses


def duplicate(first_line: int | None) -> str:
    """Why a row is skipped whose address an earlier row has: that row's line when known."""
    if first_line:
        return f"duplicate address: already on line {first_line}"
    return "duplicate address: already earlier in the file"


@dataclass
class BulkPart:
    """Rows for a bulk session, flat (4 fields a row), with their lines and cells."""

    fields: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    cells: list[list[str]] = field(default_factory=list)


@dataclass
class Batch:
    """One batch of parsed rows, in file order, plus the rows it rejected."""

    subscribe: list[ParsedRow] = field(default_factory=list)
    blocklist: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    duplicates: int = 0
    rows: int = 0
    last_line: int = 0  # where the batch's last row starts
    # Bulk path: the rows as the session takes them, and their cells for a duplicate's report.
    bulk_subscribe: BulkPart = field(default_factory=BulkPart)
    bulk_blocklist: BulkPart = field(default_factory=BulkPart)


def next_batch(batches: Iterator[Batch]) -> Batch | None:
    return next(batches, None)


def bulk_batches(
    source: CsvFile, request: ImportRequest, progress: Callable[[int], None] | None
) -> Iterator[Batch]:
    """The batches for a bulk session, which finds the duplicates of earlier batches.

    The hot loop of a large import: plain tuples and flat lists, no per-row objects kept
    beyond the cells (needed to report a duplicate the session finds).
    """
    columns = source.columns
    assert columns is not None
    blocklist_all = request.mode is ImportMode.BLOCKLIST
    delimiter = source.delimiter
    encoding = source.encoding
    size = request.bulk_batch_size
    batch = Batch()
    keys: dict[str, int] = {}  # address key -> its first line in this batch
    for item in source.rows():
        if batch.rows >= size:
            if progress is not None:
                progress(source.position())
            yield batch
            batch = Batch()
            keys = {}
        batch.rows += 1
        if isinstance(item, RowError):
            batch.last_line = item.line
            batch.errors.append(item)
            continue
        line, cells = item
        batch.last_line = line
        checked = check_row(cells, columns, line, delimiter, encoding)
        if isinstance(checked, RowError):
            batch.errors.append(checked)
            continue
        email, name, _attributes, text, blocklisted = checked
        key = address_key(email)
        first = keys.setdefault(key, line)
        if first != line:
            batch.errors.append(RowError(line, duplicate(first), raw_text(cells, delimiter)))
            batch.duplicates += 1
            continue
        part = batch.bulk_blocklist if blocklist_all or blocklisted else batch.bulk_subscribe
        part.fields += (email, key, name, text)
        part.lines.append(line)
        part.cells.append(cells)
    if batch.rows:
        if progress is not None:
            progress(source.position())
        yield batch
    if progress is not None:
        progress(source.size)


def batches(
    source: CsvFile,
    request: ImportRequest,
    progress: Callable[[int], None] | None,
    seen: SeenAddresses,
) -> Iterator[Batch]:
    """Parse the file into batches of at most batch_size rows, good or bad (in a worker thread).

    Counting bad rows too keeps memory bounded on a file of nothing but bad rows.
    """
    columns = source.columns
    assert columns is not None
    blocklist_all = request.mode is ImportMode.BLOCKLIST
    delimiter = source.delimiter
    encoding = source.encoding
    size = request.batch_size
    batch = Batch()
    good: list[tuple[ParsedRow, list[str]]] = []

    def finish() -> Batch:
        firsts = seen.earlier(
            [hash(address_key(p.subscriber.email)) for p, _ in good], [p.line for p, _ in good]
        )
        for (parsed, cells), first in zip(good, firsts, strict=True):
            if first is not None:
                error = duplicate(first)
                batch.errors.append(RowError(parsed.line, error, raw_text(cells, delimiter)))
                batch.duplicates += 1
            elif blocklist_all or parsed.blocklisted:
                batch.blocklist.append(parsed)
            else:
                batch.subscribe.append(parsed)
        good.clear()
        batch.errors.sort(key=lambda e: e.line)
        if progress is not None:
            progress(source.position())
        return batch

    for item in source.rows():
        if batch.rows >= size:
            yield finish()
            batch = Batch()
        batch.rows += 1
        if isinstance(item, RowError):
            batch.errors.append(item)
            continue
        line, cells = item
        parsed = parse_row(cells, columns, line, delimiter, encoding)
        if isinstance(parsed, RowError):
            batch.errors.append(parsed)
        else:
            good.append((parsed, cells))
    if batch.rows:
        yield finish()
    if progress is not None:
        progress(source.size)
