"""/api/v1/imports: a CSV upload imported in the background, its progress polled by id.

The body (text/csv, up to [api] max_import_size) is spooled to a temporary file, then the CLI's
import use case (campaignd.importing.pipeline) runs on it in a task the API owns; the answer is
202 with the job, and GET /imports/{id} shows bytes read and the counts so far. Jobs live in the
daemon's memory (the last MAX_JOBS); stopping the daemon cancels a running one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from campaignd.api.endpoints import Call, Endpoint
from campaignd.api.schemas import Query
from campaignd.domain import ImportMode, SubscriptionStatus
from campaignd.errors import CampaigndError, Conflict, InvalidInput, NotFound
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

MAX_JOBS = 100
MAX_RUNNING = 2  # at once; more get 409
_SPOOL = 1024 * 1024


class ImportQuery(Query):
    lists: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,9}(,[1-9][0-9]{0,9}){0,99}$")] | None = None
    mode: ImportMode = ImportMode.SUBSCRIBE
    status: Literal["unconfirmed", "confirmed"] = "unconfirmed"
    overwrite_info: bool = False
    overwrite_status: bool = False
    delimiter: Literal[",", ";", "\t", "|"] = ","
    #: The file's text encoding (latin-1, cp1252, ...), as the CLI's --encoding; or the
    #: charset of the Content-Type. Default: UTF-8 (UTF-16 by its BOM).
    encoding: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,40}$")] | None = None


class RowProblem(BaseModel):
    """A row that was not imported: its first line in the file, why, and its text."""

    line: int
    error: str
    raw: str


class ImportJob(BaseModel):
    """One upload: running, finished (see the counts) or failed (see error)."""

    id: int
    status: Literal["running", "finished", "failed"]
    bytes_read: int
    bytes_total: int
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0
    duplicates: int = 0
    failed: int = 0
    aborted: str | None = None
    error: str | None = None
    #: The first rows that were not imported (at most 10), as the CLI's --json error_samples.
    error_samples: list[RowProblem] = Field(default_factory=list)


@dataclass
class ImportJobs:
    """The jobs and the tasks running them (owned here, cancelled by `close`)."""

    jobs: dict[int, ImportJob] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _next: int = 0

    def get(self, job_id: int) -> ImportJob:
        try:
            return self.jobs[job_id]
        except KeyError:
            raise NotFound(f"no import {job_id}") from None

    def start(self, store: Store, request: object, path: Path, size: int) -> ImportJob:
        running = sum(1 for j in self.jobs.values() if j.status == "running")
        if running >= MAX_RUNNING:
            raise Conflict(f"{running} imports are running; try again when one has finished")
        self._next += 1
        job = ImportJob(id=self._next, status="running", bytes_read=0, bytes_total=size)
        self.jobs[job.id] = job
        done = [i for i, j in self.jobs.items() if j.status != "running"]
        for oldest in done[: max(0, len(self.jobs) - MAX_JOBS)]:
            del self.jobs[oldest]
        task = asyncio.create_task(self._run(job, store, request, path), name=f"import-{job.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return job

    async def _run(self, job: ImportJob, store: Store, request: object, path: Path) -> None:
        from campaignd.importing.pipeline import run_import
        from campaignd.importing.report import ImportRequest

        assert isinstance(request, ImportRequest)

        def progress(position: int, total: int) -> None:
            job.bytes_read = position

        try:
            report = await run_import(store, request, on_progress=progress)
        except CampaigndError as exc:
            job.status, job.error = "failed", str(exc)
            return
        except Exception as exc:  # a bug: logged with its trace, the job says it failed
            log.exception("import %d failed", job.id, extra={"action": "api.import"})
            job.status, job.error = "failed", f"internal error: {type(exc).__name__}"
            return
        finally:
            _remove(path)
        job.bytes_read = job.bytes_total
        for name in ("rows", "inserted", "updated", "skipped", "errors", "duplicates", "failed"):
            setattr(job, name, getattr(report, name))
        job.error_samples = [
            RowProblem(line=e.line, error=e.error, raw=e.raw) for e in report.error_samples
        ]
        job.aborted, job.status = report.aborted, "finished"

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _remove(path: Path) -> None:
    """Delete a spooled upload (one unlink: not worth a thread)."""
    with contextlib.suppress(OSError):
        os.unlink(path)


async def _spool(call: Call) -> tuple[Path, int]:
    """The request body in a private temporary file, written off the event loop."""
    assert call.request is not None
    fd, name = tempfile.mkstemp(prefix="campaignd-import-", suffix=".csv")
    path, size, chunk = Path(name), 0, bytearray()
    try:
        with os.fdopen(fd, "wb") as out:
            async for part in call.request.stream():
                chunk += part
                size += len(part)
                if len(chunk) >= _SPOOL:
                    await asyncio.to_thread(out.write, bytes(chunk))
                    chunk.clear()
            await asyncio.to_thread(out.write, bytes(chunk))
    except BaseException:
        _remove(path)
        raise
    return path, size


def _encoding(query: str | None, content_type: str) -> str | None:
    """The encoding from ?encoding= or the Content-Type's charset (InvalidInput naming the one
    that is unknown, or both when they disagree); None: the default."""
    from campaignd.importing.csvsource import parse_encoding

    charset = None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    found: dict[str, str] = {}
    for where, given in (("encoding", query), ("Content-Type", charset)):
        if given is not None:
            try:
                found[where] = parse_encoding(given)
            except InvalidInput as exc:
                msg = str(exc).removeprefix("--encoding: ")
                raise InvalidInput(f"{where}: {msg}", field=where) from None
    if len(set(found.values())) > 1:
        raise InvalidInput(
            f"encoding={query} and the Content-Type's charset={charset} disagree", field="encoding"
        )
    return query if query is not None else charset


async def create_import(call: Call) -> ImportJob:
    from campaignd.importing.report import ImportRequest

    q: ImportQuery = call.query
    assert call.request is not None
    encoding = _encoding(q.encoding, call.request.headers.get("content-type", ""))
    ids = [int(i) for i in dict.fromkeys(q.lists.split(","))] if q.lists else []
    names = await call.store.list_names()
    missing = [i for i in ids if i not in names]
    if missing:
        raise NotFound(f"no list with id {', '.join(map(str, missing))}", field="lists")
    path, size = await _spool(call)
    if size == 0:
        _remove(path)
        raise InvalidInput("the CSV body is empty")
    request = ImportRequest(
        path=path,
        lists=tuple(names[i] for i in ids),
        mode=q.mode,
        status=SubscriptionStatus(q.status),
        overwrite_info=q.overwrite_info,
        overwrite_status=q.overwrite_status,
        delimiter=q.delimiter,
        encoding=encoding,
    )
    return call.ctx.imports.start(call.store, request, path, size)


async def get_import(call: Call) -> ImportJob:
    return call.ctx.imports.get(call.ids["import_id"])


ENDPOINTS = [
    Endpoint("POST", "/imports", create_import,
             "Import a CSV upload in the background (202); poll GET /imports/{import_id}",
             ImportJob, "imports", query=ImportQuery, status=202, write=True, upload="text/csv",
             statuses=(404, 409)),
    Endpoint("GET", "/imports/{import_id}", get_import, "An import's progress and counts",
             ImportJob, "imports", statuses=(404,)),
]  # fmt: skip
