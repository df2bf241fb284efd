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

from campaignd.domain import ImportMode, ImportOptions
from campaignd.errors import InvalidInput, NotFound
from campaignd.importing.batches import batches, bulk_batches
from campaignd.importing.bulkpump import BulkSession, pump_bulk
from campaignd.importing.csvfile import CsvFile
from campaignd.importing.pump import pump
from campaignd.importing.report import ImportReport, ImportRequest, OnErrors
from campaignd.importing.seen import SeenAddresses
from campaignd.store.protocol import ImportStore

log = logging.getLogger(__name__)


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


def _options(
    request: ImportRequest, source: CsvFile, list_ids: tuple[int, ...]
) -> tuple[ImportOptions, ImportOptions]:
    """The options of the rows to subscribe, and of the rows to blocklist."""
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
    return subscribe, blocklist


def _progress(
    on_progress: Callable[[int, int], None] | None, total: int
) -> Callable[[int], None] | None:
    if on_progress is None:
        return None

    def progress(position: int) -> None:
        on_progress(position, total)

    return progress


async def run_import(
    store: ImportStore,
    request: ImportRequest,
    *,
    on_errors: OnErrors | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import a CSV file into the store and return what happened to every row.

    Raise InvalidInput before writing anything when the file cannot be opened, has no `email`
    column, or a list is unknown. `on_errors` (errors file) and `on_progress` (bytes read,
    total) are called from worker threads.
    """
    csv_file = CsvFile(request.path, request.delimiter, request.encoding)
    source = await asyncio.to_thread(csv_file.open)
    opener = getattr(store, "bulk_session", None)
    session: BulkSession | None = None
    seen: SeenAddresses | None = None
    try:
        if callable(opener):
            session = await asyncio.to_thread(opener)
        if session is None:
            seen = SeenAddresses()
        list_ids = await resolve_lists(store, request.lists)
        subscribe, blocklist = _options(request, source, list_ids)
        progress = _progress(on_progress, source.size)
        report = ImportReport()
        log.info("importing %s", request.path, extra={"action": "import.start"})
        with _few_collections():
            if seen is not None:
                parsed = batches(source, request, progress, seen)
                await pump(store, parsed, subscribe, blocklist, report, on_errors)
            else:
                assert session is not None
                parsed = bulk_batches(source, request, progress)
                await pump_bulk(
                    session, parsed, subscribe, blocklist, report, on_errors, source.delimiter
                )
    finally:
        await asyncio.to_thread(source.close)
        if seen is not None:
            await asyncio.to_thread(seen.close)
        if session is not None:
            await asyncio.to_thread(session.close)
    _log_done(request, report)
    return report


def _log_done(request: ImportRequest, report: ImportReport) -> None:
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
