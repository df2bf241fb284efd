"""The store's import path: each batch in import_batch transactions while the next is parsed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence

from campaignd.domain import ImportCounts, ImportOptions
from campaignd.errors import CampaigndError
from campaignd.importing.batches import Batch, next_batch
from campaignd.importing.csvrows import ParsedRow, RowError
from campaignd.importing.report import (
    MAX_CONSECUTIVE_FAILURES,
    ImportReport,
    OnErrors,
    record_refusal,
    send_errors,
    too_many_refusals,
)
from campaignd.store.protocol import ImportStore


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
    record_refusal(rows[0].line, rows[-1].line, len(rows), exc, report)
    return _lost_rows(rows, str(exc))


async def pump(
    store: ImportStore,
    batches: Iterator[Batch],
    subscribe: ImportOptions,
    blocklist: ImportOptions,
    report: ImportReport,
    on_errors: OnErrors | None,
) -> None:
    """Store batch k while batch k+1 is parsed in a thread; stop on a file error."""
    pending: asyncio.Future[Batch | None] = asyncio.ensure_future(
        asyncio.to_thread(next_batch, batches)
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
            pending = asyncio.ensure_future(asyncio.to_thread(next_batch, batches))
            report.rows += batch.rows
            report.duplicates += batch.duplicates
            failed_before = report.failed
            lost = await _import_part(store, batch.subscribe, subscribe, report)
            lost += await _import_part(store, batch.blocklist, blocklist, report)
            errors = await send_errors(batch.errors, lost, report, on_errors)
            if report.failed > failed_before:
                consecutive_failures += 1
                if consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                    last = max(e.line for e in errors)
                    report.aborted = too_many_refusals(consecutive_failures, last)
                    return
            else:
                consecutive_failures = 0
    finally:
        # The prefetch owns the parser thread: let it finish before the file closes.
        with contextlib.suppress(CampaigndError):
            await pending
