"""The bulk import path: batches handed to a store's BulkSession ahead of their answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from typing import Protocol

from campaignd.domain import ImportCounts, ImportOptions
from campaignd.errors import CampaigndError
from campaignd.importing.batches import Batch, BulkPart, duplicate, next_batch
from campaignd.importing.csvrows import RowError, raw_text
from campaignd.importing.report import (
    MAX_CONSECUTIVE_FAILURES,
    ImportReport,
    OnErrors,
    record_refusal,
    send_errors,
    too_many_refusals,
)

#: Batches handed to a bulk session and not yet reported: the writer starts on the next batch
#: as soon as it has committed one. Memory: this many batches, plus one being parsed.
BULK_DEPTH = 2


class BulkSession(Protocol):
    """A store's fast path for one import (SQLite: a writer process); see db.sqlite.writer.

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


_Parts = list[tuple[BulkPart, ImportOptions]]
#: Per part of a batch, the error that kept it from the writer (None: submitted).
_Submitted = list[CampaigndError | None]
#: A batch handed over: its parts, and the submission (done once they are with the writer).
_Handed = tuple[Batch, _Parts, asyncio.Future[_Submitted]]


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


def _bulk_outcome(
    part: BulkPart,
    outcome: tuple[ImportCounts, list[int]] | CampaigndError,
    report: ImportReport,
    delimiter: str,
) -> tuple[list[RowError], list[RowError]]:
    """One bulk transaction's answer: (duplicates of earlier batches, rows lost if refused)."""
    lines = part.lines
    if isinstance(outcome, CampaigndError):
        record_refusal(lines[0], lines[-1], len(lines), outcome, report)
        why = f"not imported, the database refused its batch: {outcome}"
        f = part.fields
        return [], [RowError(n, why, f"{f[4 * i]},{f[4 * i + 2]}") for i, n in enumerate(lines)]
    counts, dups = outcome
    report.inserted += counts.inserted
    report.updated += counts.updated
    report.skipped += counts.skipped
    report.duplicates += len(dups)
    # The writer finds the duplicates of earlier batches; it does not know their lines.
    error = duplicate(None)
    return [RowError(lines[i], error, raw_text(part.cells[i], delimiter)) for i in dups], []


class _BulkPump:
    """One bulk import: a producer parses and submits, a consumer collects and reports.

    At most BULK_DEPTH batches are submitted and not yet reported (``room``); answers are
    collected in submission order. Every batch submitted is collected and counted, even once
    the import has been stopped (``stop``).
    """

    def __init__(
        self,
        session: BulkSession,
        subscribe: ImportOptions,
        blocklist: ImportOptions,
        report: ImportReport,
        on_errors: OnErrors | None,
        delimiter: str,
    ) -> None:
        self._session = session
        self._subscribe = subscribe
        self._blocklist = blocklist
        self._report = report
        self._on_errors = on_errors
        self._delimiter = delimiter
        self._room = asyncio.Semaphore(BULK_DEPTH)
        self._queue: asyncio.Queue[_Handed | None] = asyncio.Queue()
        self._stop = asyncio.Event()
        self.file_error: CampaigndError | None = None  # the file could not be read any further

    def _parts(self, batch: Batch) -> _Parts:
        both = ((batch.bulk_subscribe, self._subscribe), (batch.bulk_blocklist, self._blocklist))
        return [(part, options) for part, options in both if part.lines]

    async def produce(self, batches: Iterator[Batch]) -> None:
        """Parse batch k+2 while batch k+1 is handed over; submissions in order."""
        pending: asyncio.Future[Batch | None] = asyncio.ensure_future(
            asyncio.to_thread(next_batch, batches)
        )
        sent: asyncio.Future[_Submitted] | None = None
        try:
            while True:
                try:
                    batch = await pending
                except CampaigndError as exc:
                    self.file_error = exc
                    return
                if batch is None:
                    return
                await self._room.acquire()
                if self._stop.is_set():
                    return
                pending = asyncio.ensure_future(asyncio.to_thread(next_batch, batches))
                parts = self._parts(batch)
                if sent is not None:
                    await asyncio.wait([sent])  # submissions in order, from one thread at a time
                sent = asyncio.ensure_future(asyncio.to_thread(_submit, self._session, parts))
                self._queue.put_nowait((batch, parts, sent))
        finally:
            # The threads must be done before the file and the session close.
            with contextlib.suppress(CampaigndError):
                await pending
            if sent is not None:
                await asyncio.wait([sent])
            self._queue.put_nowait(None)

    async def _report_batch(
        self, batch: Batch, parts: _Parts, submitted: asyncio.Future[_Submitted]
    ) -> bool:
        """Collect and report one batch's answers; True if the database refused a part."""
        report = self._report
        report.rows += batch.rows
        report.duplicates += batch.duplicates
        lost: list[RowError] = []
        refused = False
        for (part, _options), error in zip(parts, await submitted, strict=True):
            outcome = (
                error if error is not None else await asyncio.to_thread(_collect, self._session)
            )
            dups, gone = _bulk_outcome(part, outcome, report, self._delimiter)
            batch.errors += dups
            lost += gone
            refused = refused or bool(gone)
        batch.errors.sort(key=lambda e: e.line)
        await send_errors(batch.errors, lost, report, self._on_errors)
        return refused

    async def consume(self) -> None:
        """Report the batches in order; stop the producer after too many refusals in a row."""
        in_a_row = stopped_at = 0
        while (item := await self._queue.get()) is not None:
            batch, parts, submitted = item
            refused = await self._report_batch(batch, parts, submitted)
            self._room.release()
            in_a_row = in_a_row + 1 if refused else 0
            if not stopped_at and in_a_row >= MAX_CONSECUTIVE_FAILURES:
                stopped_at = in_a_row
                self._stop.set()
            if stopped_at:  # batches already handed over are still counted
                stopped_at = max(stopped_at, in_a_row)
                self._report.aborted = too_many_refusals(stopped_at, batch.last_line)


async def pump_bulk(
    session: BulkSession,
    batches: Iterator[Batch],
    subscribe: ImportOptions,
    blocklist: ImportOptions,
    report: ImportReport,
    on_errors: OnErrors | None,
    delimiter: str,
) -> None:
    """Hand batch k+1 to the writer while it stores batch k, and parse batch k+2."""
    pump = _BulkPump(session, subscribe, blocklist, report, on_errors, delimiter)
    producer = asyncio.ensure_future(pump.produce(batches))
    try:
        await pump.consume()
    finally:
        if not producer.done():  # the consumer failed: stop handing batches over
            producer.cancel()
        await asyncio.wait([producer])
    producer.result()  # a failure of the producer's own
    if pump.file_error is not None and report.aborted is None:
        report.aborted = str(pump.file_error)
