"""The bulk import pipeline (importing.bulkpump): batches handed to the writer ahead of their
answers, answers matched in order, refusals reported and the import stopped as before."""

from __future__ import annotations

import csv
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import pytest

from campaignd.domain import ImportCounts, ImportOptions, OptIn
from campaignd.errors import StoreError
from campaignd.importing.bulkpump import BULK_DEPTH
from campaignd.importing.csvrows import RowError
from campaignd.importing.pipeline import run_import
from campaignd.importing.report import MAX_CONSECUTIVE_FAILURES, ImportReport, ImportRequest
from campaignd.store.memory import MemoryStore


class FakeSession:
    """Inserts every row it is given (no duplicates across batches), answers in order, slowly;
    refuses the batches whose 1-based numbers are in `refuse`, or stops after `dies_after`."""

    def __init__(self, refuse: frozenset[int] = frozenset(), dies_after: int | None = None):
        self.refuse = refuse
        self.dies_after = dies_after
        self.answers: deque[tuple[ImportCounts, list[int]] | StoreError] = deque()
        self.batches: list[list[str]] = []  # the emails of each batch, as submitted
        self.in_flight = 0
        self.most_in_flight = 0
        self.closed = False
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)

    def submit(self, fields: Sequence[str], options: ImportOptions) -> None:
        with self._lock:
            number = len(self.batches) + 1
            if self.dies_after is not None and number > self.dies_after:
                raise StoreError("the import writer stopped: Broken pipe")
            self.batches.append(list(fields[0::4]))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            rows = len(fields) // 4
            if number in self.refuse:
                self.answers.append(StoreError(f"disk full in batch {number}"))
            else:
                self.answers.append((ImportCounts(inserted=rows), []))
            self._ready.notify()

    def collect(self) -> tuple[ImportCounts, list[int]]:
        time.sleep(0.002)  # a writer slower than the parser: batches queue up
        with self._lock:
            while not self.answers:
                self._ready.wait()
            answer = self.answers.popleft()
            self.in_flight -= 1
        if isinstance(answer, StoreError):
            raise answer
        return answer

    def close(self) -> None:
        self.closed = True


class BulkMemoryStore(MemoryStore):
    def __init__(self, session: FakeSession) -> None:
        super().__init__()
        self.session = session

    def bulk_session(self) -> FakeSession:
        return self.session


def _file(path: Path, rows: int, bad_every: int = 0) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["email", "name"])
        for i in range(rows):
            bad = bad_every and i % bad_every == bad_every - 1
            out.writerow([f"u{i}{'' if not bad else '@'}@x.example", f"N {i}"])
    return path


async def _run(
    session: FakeSession, path: Path, batch: int
) -> tuple[BulkMemoryStore, list[RowError], ImportReport]:
    store = BulkMemoryStore(session)
    await store.create_list("l", OptIn.SINGLE, "")
    errors: list[RowError] = []
    report = await run_import(
        store,
        ImportRequest(path, lists=("l",), bulk_batch_size=batch),
        on_errors=errors.extend,
    )
    return store, errors, report


async def test_batches_go_ahead_of_their_answers_in_file_order(tmp_path: Path) -> None:
    session = FakeSession()
    _, errors, report = await _run(session, _file(tmp_path / "a.csv", 200, bad_every=7), 10)
    assert (report.rows, report.inserted, report.errors, report.failed) == (200, 172, 28, 0)
    assert report.complete
    sent = [e for batch in session.batches for e in batch]
    assert sent == [f"u{i}@x.example" for i in range(200) if i % 7 != 6]
    assert [e.line for e in errors] == [i + 2 for i in range(200) if i % 7 == 6]
    assert session.most_in_flight == BULK_DEPTH  # pipelined, and bounded
    assert session.closed


async def test_a_refused_batch_loses_only_its_own_rows(tmp_path: Path) -> None:
    session = FakeSession(refuse=frozenset({2}))
    _, errors, report = await _run(session, _file(tmp_path / "a.csv", 30), 10)
    assert (report.rows, report.inserted, report.failed) == (30, 20, 10)
    assert not report.complete and report.aborted is None
    [failure] = report.batch_failures
    assert (failure.first_line, failure.last_line, failure.rows) == (12, 21, 10)
    assert "disk full in batch 2" in failure.error
    assert [e.line for e in errors] == list(range(12, 22))
    assert all("the database refused its batch" in e.error for e in errors)


async def test_refusals_in_a_row_stop_the_import_and_count_what_was_handed_over(
    tmp_path: Path,
) -> None:
    refused = frozenset(range(2, 2 + MAX_CONSECUTIVE_FAILURES))
    session = FakeSession(refuse=refused)
    _, _, report = await _run(session, _file(tmp_path / "a.csv", 500), 10)
    assert report.aborted is not None
    assert f"refused {MAX_CONSECUTIVE_FAILURES} batches in a row" in report.aborted
    handed_over = len(session.batches)
    assert handed_over < 50  # stopped early...
    assert handed_over <= 1 + MAX_CONSECUTIVE_FAILURES + BULK_DEPTH
    # ...and every row handed to the writer is accounted for, none twice.
    assert report.rows == 10 * handed_over
    assert report.inserted + report.failed == report.rows
    assert report.failed == 10 * MAX_CONSECUTIVE_FAILURES
    assert report.aborted.endswith(f"stopped after line {10 * handed_over + 1}")


async def test_a_writer_that_stops_fails_the_rest_and_stops_the_import(tmp_path: Path) -> None:
    session = FakeSession(dies_after=3)
    _, errors, report = await _run(session, _file(tmp_path / "a.csv", 200), 10)
    assert report.inserted == 30
    # The batches in the pipeline when the import stops are refused too, and counted.
    assert 10 * MAX_CONSECUTIVE_FAILURES <= report.failed < 10 * (MAX_CONSECUTIVE_FAILURES + 2)
    assert report.rows == report.inserted + report.failed
    assert report.aborted is not None
    assert f"refused {report.failed // 10} batches in a row" in report.aborted
    assert [e.line for e in errors] == list(range(32, 32 + report.failed))


async def test_a_failing_errors_sink_ends_the_import_with_its_error(tmp_path: Path) -> None:
    session = FakeSession()
    store = BulkMemoryStore(session)

    def sink(errors: Sequence[RowError]) -> None:
        raise OSError("errors file: no space left")

    with pytest.raises(OSError, match="no space left"):
        await run_import(
            store,
            ImportRequest(_file(tmp_path / "a.csv", 100, bad_every=5), bulk_batch_size=10),
            on_errors=sink,
        )
    assert session.closed
