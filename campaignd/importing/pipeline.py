"""The CSV import use case: parse in a thread, upsert batch by batch, report every skipped row.

Counting (``ImportReport``): every data row is exactly one of inserted, updated, skipped (already
there, unchanged), errors (a bad row or a later duplicate, reported with its line) or failed (a
good row in a batch the database refused): ``rows == inserted + updated + skipped + errors +
failed``. One batch is one ``Store.import_batch`` transaction; a refused batch is reported and the
import goes on with the next one.

listmonk exports carry a ``status`` column: ``blocklisted`` rows are imported as blocklisted
(whatever the mode), ``disabled`` rows are reported and not imported (importing them would make
the address mailable again), other values are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from campaignd.addresses import address_key
from campaignd.domain import ImportCounts, ImportMode, ImportOptions, SubscriptionStatus
from campaignd.errors import CampaigndError, InvalidInput, NotFound
from campaignd.importing.csvfile import CsvFile
from campaignd.importing.csvrows import ParsedRow, RowError, check_row, parse_row, raw_text
from campaignd.importing.seen import SeenAddresses
from campaignd.store.protocol import ImportStore

log = logging.getLogger(__name__)

MAX_SAMPLES = 10
_DUPLICATE = "duplicate address: an earlier row has it"
MAX_CONSECUTIVE_FAILURES = 5


@dataclass(frozen=True, slots=True)
class ImportRequest:
    path: Path
    lists: tuple[str, ...] = ()
    mode: ImportMode = ImportMode.SUBSCRIBE
    status: SubscriptionStatus = SubscriptionStatus.UNCONFIRMED
    overwrite_info: bool = False
    overwrite_status: bool = False
    delimiter: str = ","
    batch_size: int = 1000
    # Rows per transaction on a store with a bulk session. BULK_DEPTH batches are handed over
    # at a time, plus one being parsed: 5,000 keeps that below 2 x 10,000 (the CLI peaked at
    # 78 MB instead of 92 MB with 10,000 at 1M rows), at no measurable cost in the writer.
    bulk_batch_size: int = 5_000


class BulkSession(Protocol):
    """A store's fast path for one import (SQLite: a writer process); see db.fastimport.

    Batches are pipelined: ``submit`` hands one over, ``collect`` returns the answer to the
    oldest one not yet collected (in submission order). Both block; they are called from two
    threads so that neither waits for the other.
    """

    def submit(self, fields: Sequence[str], options: ImportOptions) -> None:
        """Rows as a flat list: email, email_key, name, attributes JSON text, then the next.

        Raise CampaigndError when the batch could not be handed over (nothing to collect).
        """
        ...

    def collect(self) -> tuple[ImportCounts, list[int]]:
        """(counts, positions of duplicates); raise CampaigndError for a refused batch."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BatchFailure:
    first_line: int
    last_line: int
    rows: int
    error: str


@dataclass
class ImportReport:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0  # bad rows, duplicates included
    duplicates: int = 0
    failed: int = 0  # good rows lost with a refused batch
    error_samples: list[RowError] = field(default_factory=list)
    batch_failures: list[BatchFailure] = field(default_factory=list)
    aborted: str | None = None  # why the import stopped before the end of the file

    @property
    def complete(self) -> bool:
        return self.aborted is None and self.failed == 0

    def add_errors(self, errors: Sequence[RowError]) -> None:
        self.errors += len(errors)
        room = MAX_SAMPLES - len(self.error_samples)
        if room > 0:
            self.error_samples.extend(errors[:room])


@dataclass
class _BulkPart:
    """Rows for a bulk session, flat (4 fields a row), with their lines and cells."""

    fields: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    cells: list[list[str]] = field(default_factory=list)


@dataclass
class _Batch:
    """One batch of parsed rows, in file order, plus the rows it rejected."""

    subscribe: list[ParsedRow] = field(default_factory=list)
    blocklist: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    duplicates: int = 0
    rows: int = 0
    last_line: int = 0  # where the batch's last row starts
    # Bulk path: the rows as the session takes them, and their cells for a duplicate's report.
    bulk_subscribe: _BulkPart = field(default_factory=_BulkPart)
    bulk_blocklist: _BulkPart = field(default_factory=_BulkPart)


def _bulk_batches(
    source: CsvFile, request: ImportRequest, progress: Callable[[int], None] | None
) -> Iterator[_Batch]:
    """The batches for a bulk session, which finds the duplicates of earlier batches.

    The hot loop of a large import: plain tuples and flat lists, no per-row objects kept
    beyond the cells (needed to report a duplicate the session finds).
    """
    columns = source.columns
    assert columns is not None
    blocklist_all = request.mode is ImportMode.BLOCKLIST
    delimiter = source.delimiter
    size = request.bulk_batch_size
    batch = _Batch()
    keys: set[str] = set()
    for item in source.rows():
        if batch.rows >= size:
            if progress is not None:
                progress(source.position())
            yield batch
            batch = _Batch()
            keys = set()
        batch.rows += 1
        if isinstance(item, RowError):
            batch.last_line = item.line
            batch.errors.append(item)
            continue
        line, cells = item
        batch.last_line = line
        checked = check_row(cells, columns, line, delimiter)
        if isinstance(checked, RowError):
            batch.errors.append(checked)
            continue
        email, name, _attributes, text, blocklisted = checked
        key = address_key(email)
        if key in keys:
            batch.errors.append(RowError(line, _DUPLICATE, raw_text(cells, delimiter)))
            batch.duplicates += 1
            continue
        keys.add(key)
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


def _batches(
    source: CsvFile,
    request: ImportRequest,
    progress: Callable[[int], None] | None,
    seen: SeenAddresses,
) -> Iterator[_Batch]:
    """Parse the file into batches of at most batch_size rows, good or bad (in a worker thread).

    Counting bad rows too keeps memory bounded on a file of nothing but bad rows.
    """
    columns = source.columns
    assert columns is not None
    blocklist_all = request.mode is ImportMode.BLOCKLIST
    delimiter = source.delimiter
    size = request.batch_size
    batch = _Batch()
    good: list[tuple[ParsedRow, list[str]]] = []

    def finish() -> _Batch:
        fresh = seen.first_time([hash(address_key(p.subscriber.email)) for p, _ in good])
        for (parsed, cells), new in zip(good, fresh, strict=True):
            if not new:
                batch.errors.append(RowError(parsed.line, _DUPLICATE, raw_text(cells, delimiter)))
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
            batch = _Batch()
        batch.rows += 1
        if isinstance(item, RowError):
            batch.errors.append(item)
            continue
        line, cells = item
        parsed = parse_row(cells, columns, line, delimiter)
        if isinstance(parsed, RowError):
            batch.errors.append(parsed)
        else:
            good.append((parsed, cells))
    if batch.rows:
        yield finish()
    if progress is not None:
        progress(source.size)


async def resolve_lists(store: ImportStore, names: Sequence[str]) -> tuple[int, ...]:
    """List ids by name; raise InvalidInput naming the unknown list before anything is written."""
    ids: list[int] = []
    for name in dict.fromkeys(names):
        try:
            ids.append((await store.get_list(name)).id)
        except NotFound:
            raise InvalidInput(
                f"no list named {name!r}; create it with `campaignd lists create {name}`"
            ) from None
    return tuple(ids)


def _lost_rows(rows: Sequence[ParsedRow], error: str) -> list[RowError]:
    return [
        RowError(
            r.line,
            f"not imported, the database refused its batch: {error}",
            ",".join([r.subscriber.email, r.subscriber.name]),
        )
        for r in rows
    ]


async def _import_part(
    store: ImportStore, rows: list[ParsedRow], options: ImportOptions, report: ImportReport
) -> list[RowError]:
    """One import_batch transaction; on a refusal, the lost rows as errors for the errors file."""
    if not rows:
        return []
    try:
        counts: ImportCounts = await store.import_batch([r.subscriber for r in rows], options)
    except CampaigndError as exc:
        return _refused(rows, exc, report)
    report.inserted += counts.inserted
    report.updated += counts.updated
    report.skipped += counts.skipped
    return []


def _refused(
    rows: Sequence[ParsedRow], exc: CampaigndError, report: ImportReport
) -> list[RowError]:
    _refusal(rows[0].line, rows[-1].line, len(rows), exc, report)
    return _lost_rows(rows, str(exc))


def _refusal(first: int, last: int, rows: int, exc: CampaigndError, report: ImportReport) -> None:
    report.failed += rows
    report.batch_failures.append(BatchFailure(first, last, rows, str(exc)))
    log.error(
        "import batch of lines %d-%d refused: %s",
        first,
        last,
        exc,
        extra={"action": "import.batch_failed"},
    )


def _bulk_outcome(
    part: _BulkPart,
    outcome: tuple[ImportCounts, list[int]] | CampaigndError,
    report: ImportReport,
    delimiter: str,
) -> tuple[list[RowError], list[RowError]]:
    """One bulk transaction's answer: (duplicates of earlier batches, rows lost if refused)."""
    lines = part.lines
    if isinstance(outcome, CampaigndError):
        _refusal(lines[0], lines[-1], len(lines), outcome, report)
        why = f"not imported, the database refused its batch: {outcome}"
        f = part.fields
        return [], [RowError(n, why, f"{f[4 * i]},{f[4 * i + 2]}") for i, n in enumerate(lines)]
    counts, dups = outcome
    report.inserted += counts.inserted
    report.updated += counts.updated
    report.skipped += counts.skipped
    report.duplicates += len(dups)
    return [RowError(lines[i], _DUPLICATE, raw_text(part.cells[i], delimiter)) for i in dups], []


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """Run the cyclic garbage collector 100 times less often for the import.

    A batch keeps tens of thousands of containers alive (cells, lists) that hold no cycles;
    with the default thresholds the collector walks them again and again, a third of the
    parsing time. Collections still happen, so cyclic garbage stays bounded.
    """
    before = gc.get_threshold()
    gc.set_threshold(70_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _info_fields(source: CsvFile) -> frozenset[str]:
    """The fields --overwrite-info may replace: those the file has a column for."""
    columns = source.columns
    assert columns is not None
    found = (("name", columns.name), ("attributes", columns.attributes))
    return frozenset(name for name, index in found if index is not None)


async def run_import(
    store: ImportStore,
    request: ImportRequest,
    *,
    on_errors: Callable[[Sequence[RowError]], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import a CSV file into the store and return what happened to every row.

    Raise InvalidInput before writing anything when the file cannot be opened, has no `email`
    column, or a list is unknown. `on_errors` (errors file) and `on_progress` (bytes read,
    total) are called from worker threads.
    """
    source = await asyncio.to_thread(CsvFile(request.path, request.delimiter).open)
    opener = getattr(store, "bulk_session", None)
    session: BulkSession | None = None
    seen: SeenAddresses | None = None
    try:
        if callable(opener):
            session = await asyncio.to_thread(opener)
        if session is None:
            seen = SeenAddresses()
        list_ids = await resolve_lists(store, request.lists)
        if request.mode is ImportMode.BLOCKLIST:
            list_ids = ()
        info_fields = _info_fields(source)
        subscribe = ImportOptions(
            mode=request.mode,
            list_ids=list_ids,
            status=request.status,
            overwrite_info=request.overwrite_info,
            overwrite_status=request.overwrite_status,
            info_fields=info_fields,
        )
        blocklist = ImportOptions(
            mode=ImportMode.BLOCKLIST,
            overwrite_info=request.overwrite_info,
            overwrite_status=request.overwrite_status,
            info_fields=info_fields,
        )
        progress = None
        if on_progress is not None:
            total = source.size

            def progress(position: int) -> None:
                on_progress(position, total)

        report = ImportReport()
        batches = (
            _batches(source, request, progress, seen)
            if seen is not None
            else _bulk_batches(source, request, progress)
        )
        log.info("importing %s", request.path, extra={"action": "import.start"})
        with _few_collections():
            if session is None:
                await _pump(store, batches, subscribe, blocklist, report, on_errors)
            else:
                await _pump_bulk(
                    session, batches, subscribe, blocklist, report, on_errors, source.delimiter
                )
    finally:
        await asyncio.to_thread(source.close)
        if seen is not None:
            await asyncio.to_thread(seen.close)
        if session is not None:
            await asyncio.to_thread(session.close)
    log.info(
        "import of %s: %d rows, %d inserted, %d updated, %d unchanged, %d errors, %d failed",
        request.path,
        report.rows,
        report.inserted,
        report.updated,
        report.skipped,
        report.errors,
        report.failed,
        extra={"action": "import.done"},
    )
    return report


def _next_batch(batches: Iterator[_Batch]) -> _Batch | None:
    return next(batches, None)


async def _send_errors(
    batch: _Batch,
    lost: list[RowError],
    report: ImportReport,
    on_errors: Callable[[Sequence[RowError]], None] | None,
) -> list[RowError]:
    """Count a stored batch's bad rows and hand them (and its lost rows) to on_errors."""
    report.add_errors(batch.errors)
    errors = batch.errors + lost
    if errors and on_errors is not None:
        await asyncio.to_thread(on_errors, sorted(errors, key=lambda e: e.line))
    return errors


def _too_many_refusals(in_a_row: int, last_line: int) -> str:
    return f"the database refused {in_a_row} batches in a row; stopped after line {last_line}"


async def _pump(
    store: ImportStore,
    batches: Iterator[_Batch],
    subscribe: ImportOptions,
    blocklist: ImportOptions,
    report: ImportReport,
    on_errors: Callable[[Sequence[RowError]], None] | None,
) -> None:
    """Store batch k while batch k+1 is parsed in a thread; stop on a file error."""
    pending: asyncio.Future[_Batch | None] = asyncio.ensure_future(
        asyncio.to_thread(_next_batch, batches)
    )
    consecutive_failures = 0
    try:
        while True:
            try:
                batch = await pending
            except CampaigndError as exc:  # the file could not be read any further
                report.aborted = str(exc)
                return
            if batch is None:
                return
            pending = asyncio.ensure_future(asyncio.to_thread(_next_batch, batches))
            report.rows += batch.rows
            report.duplicates += batch.duplicates
            failed_before = report.failed
            lost = await _import_part(store, batch.subscribe, subscribe, report)
            lost += await _import_part(store, batch.blocklist, blocklist, report)
            errors = await _send_errors(batch, lost, report, on_errors)
            if report.failed > failed_before:
                consecutive_failures += 1
                if consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                    last = max(e.line for e in errors)
                    report.aborted = _too_many_refusals(consecutive_failures, last)
                    return
            else:
                consecutive_failures = 0
    finally:
        # The prefetch owns the parser thread: let it finish before the file closes.
        with contextlib.suppress(CampaigndError):
            await pending


#: Batches handed to a bulk session and not yet reported: the writer starts on the next batch
#: as soon as it has committed one. Memory: this many batches, plus one being parsed.
BULK_DEPTH = 2

_Parts = list[tuple[_BulkPart, ImportOptions]]
#: Per part of a batch, the error that kept it from the writer (None: submitted).
_Submitted = list[CampaigndError | None]


def _submit(session: BulkSession, parts: _Parts) -> _Submitted:
    out: _Submitted = []
    for part, options in parts:
        try:
            session.submit(part.fields, options)
        except CampaigndError as exc:
            out.append(exc)
        else:
            out.append(None)
    return out


def _collect(session: BulkSession) -> tuple[ImportCounts, list[int]] | CampaigndError:
    try:
        return session.collect()
    except CampaigndError as exc:
        return exc


async def _pump_bulk(
    session: BulkSession,
    batches: Iterator[_Batch],
    subscribe: ImportOptions,
    blocklist: ImportOptions,
    report: ImportReport,
    on_errors: Callable[[Sequence[RowError]], None] | None,
    delimiter: str,
) -> None:
    """Hand batch k+1 to the writer while it stores batch k, and parse batch k+2.

    The producer parses and submits, the consumer collects the answers in the same order and
    reports them; at most BULK_DEPTH batches are submitted and not yet reported. Every batch
    submitted is collected and counted, even once the import has been stopped.
    """
    room = asyncio.Semaphore(BULK_DEPTH)
    queue: asyncio.Queue[tuple[_Batch, _Parts, asyncio.Future[_Submitted]] | None]
    queue = asyncio.Queue()
    stop = asyncio.Event()
    file_error: list[CampaigndError] = []

    async def produce() -> None:
        pending: asyncio.Future[_Batch | None] = asyncio.ensure_future(
            asyncio.to_thread(_next_batch, batches)
        )
        sent: asyncio.Future[_Submitted] | None = None
        try:
            while True:
                try:
                    batch = await pending
                except CampaigndError as exc:  # the file could not be read any further
                    file_error.append(exc)
                    return
                if batch is None:
                    return
                await room.acquire()
                if stop.is_set():
                    return
                pending = asyncio.ensure_future(asyncio.to_thread(_next_batch, batches))
                parts = [
                    (part, options)
                    for part, options in (
                        (batch.bulk_subscribe, subscribe),
                        (batch.bulk_blocklist, blocklist),
                    )
                    if part.lines
                ]
                if sent is not None:
                    await asyncio.wait([sent])  # submissions in order, from one thread at a time
                sent = asyncio.ensure_future(asyncio.to_thread(_submit, session, parts))
                queue.put_nowait((batch, parts, sent))
        finally:
            # The threads must be done before the file and the session close.
            with contextlib.suppress(CampaigndError):
                await pending
            if sent is not None:
                await asyncio.wait([sent])
            queue.put_nowait(None)

    async def consume() -> None:
        in_a_row = stopped_at = 0
        while (item := await queue.get()) is not None:
            batch, parts, submitted = item
            report.rows += batch.rows
            report.duplicates += batch.duplicates
            lost: list[RowError] = []
            refused = False
            for (part, _options), error in zip(parts, await submitted, strict=True):
                outcome = error if error is not None else await asyncio.to_thread(_collect, session)
                dups, gone = _bulk_outcome(part, outcome, report, delimiter)
                batch.errors += dups
                lost += gone
                refused = refused or bool(gone)
            batch.errors.sort(key=lambda e: e.line)
            await _send_errors(batch, lost, report, on_errors)
            room.release()
            in_a_row = in_a_row + 1 if refused else 0
            if not stopped_at and in_a_row >= MAX_CONSECUTIVE_FAILURES:
                stopped_at = in_a_row
                stop.set()
            if stopped_at:  # batches already handed over are still counted
                stopped_at = max(stopped_at, in_a_row)
                report.aborted = _too_many_refusals(stopped_at, batch.last_line)

    producer = asyncio.ensure_future(produce())
    try:
        await consume()
    finally:
        if not producer.done():  # the consumer failed: stop handing batches over
            producer.cancel()
        await asyncio.wait([producer])
    producer.result()  # a failure of the producer's own
    if file_error and report.aborted is None:
        report.aborted = str(file_error[0])
