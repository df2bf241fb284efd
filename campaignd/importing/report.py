"""What an import is asked (ImportRequest) and what it reports (ImportReport, refused batches)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from campaignd.domain import ImportMode, SubscriptionStatus
from campaignd.errors import CampaigndError
from campaignd.importing.csvrows import RowError

# The import's one logger, as before the split (its name is in every JSON log line).
log = logging.getLogger("campaignd.importing.pipeline")

MAX_SAMPLES = 10
#: Refused batches in a row after which an import stops.
MAX_CONSECUTIVE_FAILURES = 5

#: Where the bad rows go (the errors file); called from a worker thread.
OnErrors = Callable[[Sequence[RowError]], None]


@dataclass(frozen=True, slots=True)
class ImportRequest:
    path: Path
    lists: tuple[str, ...] = ()
    mode: ImportMode = ImportMode.SUBSCRIBE
    status: SubscriptionStatus = SubscriptionStatus.UNCONFIRMED
    overwrite_info: bool = False
    overwrite_status: bool = False
    delimiter: str = ","
    encoding: str | None = None  # None: UTF-8, or UTF-16 by its BOM
    batch_size: int = 1000
    # Rows per transaction on a store with a bulk session. BULK_DEPTH batches are handed over
    # at a time, plus one being parsed: 5,000 keeps that below 2 x 10,000 (the CLI peaked at
    # 78 MB instead of 92 MB with 10,000 at 1M rows), at no measurable cost in the writer.
    bulk_batch_size: int = 5_000


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


def record_refusal(
    first: int, last: int, rows: int, exc: CampaigndError, report: ImportReport
) -> None:
    """Count and log a batch of lines first-last the database refused."""
    report.failed += rows
    report.batch_failures.append(BatchFailure(first, last, rows, str(exc)))
    log.error(
        "import batch of lines %d-%d refused: %s",
        first,
        last,
        exc,
        extra={"action": "import.batch_failed"},
    )


def too_many_refusals(in_a_row: int, last_line: int) -> str:
    return f"the database refused {in_a_row} batches in a row; stopped after line {last_line}"


async def send_errors(
    bad: list[RowError],
    lost: list[RowError],
    report: ImportReport,
    on_errors: OnErrors | None,
) -> list[RowError]:
    """Count a stored batch's bad rows and hand them (and its lost rows) to on_errors."""
    report.add_errors(bad)
    errors = bad + lost
    if errors and on_errors is not None:
        await asyncio.to_thread(on_errors, sorted(errors, key=lambda e: e.line))
    return errors
