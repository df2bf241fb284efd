"""`campaignd subscribers import`: CSV import with a summary, an errors file and a progress bar."""

from __future__ import annotations

import csv
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from campaignd.cli.common import AppContext, open_store, pass_app, print_json, run
from campaignd.db.postgres.copyimport import postgres_dsn
from campaignd.db.sqlite.writer import discard_spare, prestart
from campaignd.domain import ImportMode, SubscriptionStatus
from campaignd.errors import InvalidInput
from campaignd.importing.csvfile import parse_delimiter
from campaignd.importing.csvrows import RowError
from campaignd.importing.csvsafe import neutralise
from campaignd.importing.csvsource import parse_encoding
from campaignd.importing.pipeline import run_import
from campaignd.importing.report import ImportReport, ImportRequest
from campaignd.store.pg_import import PgImportStore
from campaignd.store.sqlite_import import SqliteImportStore, plain_sqlite_file


class ErrorsFile:
    """A CSV of line,error,raw for the skipped rows; cells made inert for spreadsheets."""

    def __init__(self, path: Path) -> None:
        try:
            self._fh: IO[str] = path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise InvalidInput(f"cannot write the errors file {path}: {exc.strerror}") from exc
        self._writer = csv.writer(self._fh)
        self._writer.writerow(["line", "error", "raw"])
        self._lock = threading.Lock()

    def write(self, errors: Sequence[RowError]) -> None:
        with self._lock:
            self._writer.writerows(
                [str(e.line), neutralise(e.error), neutralise(e.raw)] for e in errors
            )

    def close(self) -> None:
        self._fh.close()


class Progress:
    """A progress bar by bytes on stderr, only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: Any = None
        self._shown = 0

    def update(self, position: int, total: int) -> None:
        if self._bar is None:
            self._bar = click.progressbar(length=max(total, 1), label=self._label, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(max(position - self._shown, 0))
        self._shown = max(position, self._shown)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


#: The human summary's lines: the --json field names, with what some of them count.
_SUMMARY = (
    ("rows", ""),
    ("inserted", ""),
    ("updated", ""),
    ("skipped", "existing subscribers left unchanged"),
    ("errors", "rows not imported, duplicates included"),
    ("duplicates", "rows whose address an earlier row has"),
    ("failed", "good rows in batches the database refused"),
)


def _summary(path: Path, report: ImportReport, errors_file: Path | None) -> None:
    """The counts under the names --json uses, so both read the same."""
    click.echo(f"{path}:")
    for name, meaning in _SUMMARY:
        value = getattr(report, name)
        note = f"  ({meaning})" if meaning and value else ""
        click.echo(f"  {name:<11}{value}{note}")
    for sample in report.error_samples:
        click.echo(f"line {sample.line}: {sample.error}", err=True)
    if report.errors > len(report.error_samples):
        more = report.errors - len(report.error_samples)
        where = f"; all are in {errors_file}" if errors_file else "; use --errors-file PATH"
        click.echo(f"... and {more} more bad rows{where}", err=True)
    for failure in report.batch_failures:
        click.echo(
            f"lines {failure.first_line}-{failure.last_line}: {failure.rows} rows not imported: "
            f"{failure.error}",
            err=True,
        )
    if report.aborted:
        click.echo(f"error: the import stopped early: {report.aborted}", err=True)


def _json(report: ImportReport) -> dict[str, Any]:
    return {
        "rows": report.rows,
        "inserted": report.inserted,
        "updated": report.updated,
        "skipped": report.skipped,
        "errors": report.errors,
        "duplicates": report.duplicates,
        "failed": report.failed,
        "error_samples": report.error_samples,
        "batch_failures": report.batch_failures,
        "aborted": report.aborted,
    }


def _prestart_writer(app: AppContext) -> None:
    """On a SQLite file, start the import's writer process now: its start-up then overlaps
    ours (opening the store, reading the header) instead of following it."""
    scheme = app.settings.db.url.partition("://")[0].lower()
    if scheme in ("sqlite", "sqlite+aiosqlite"):  # db.engine (SQLAlchemy) is slow to import
        prestart()


def _light_store(url: str) -> SqliteImportStore | PgImportStore | None:
    """The import's store without SQLAlchemy: a plain SQLite file (a writer process), or
    PostgreSQL (COPY); None for anything else (in-memory SQLite, URL options)."""
    path = plain_sqlite_file(url)
    if path is not None:
        return SqliteImportStore(path)
    dsn = postgres_dsn(url)
    if dsn is not None:
        return PgImportStore(dsn)
    return None


async def _import(
    app: AppContext, request: ImportRequest, sink: ErrorsFile | None, progress: Progress | None
) -> ImportReport:
    """Run the import on the configured database; a plain SQLite file or PostgreSQL without
    SQLAlchemy."""
    on_errors = sink.write if sink is not None else None
    on_progress = progress.update if progress is not None else None
    light = _light_store(app.settings.db.url)
    if light is not None:  # no SQLAlchemy to import and set up: ~0.45 s sooner at work
        try:
            await light.check_schema()
            return await run_import(light, request, on_errors=on_errors, on_progress=on_progress)
        finally:
            await light.close()
    async with open_store(app.settings) as store:
        return await run_import(store, request, on_errors=on_errors, on_progress=on_progress)


def _delimiter(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return parse_delimiter(value)
    except InvalidInput as exc:
        raise click.BadParameter(str(exc)) from None


def _encoding(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_encoding(value)
    except InvalidInput as exc:
        raise click.BadParameter(str(exc).removeprefix("--encoding: ")) from None
    return value


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--list", "lists", multiple=True, metavar="NAME", help="Subscribe to this list.")
@click.option(
    "--mode",
    type=click.Choice([m.value for m in ImportMode]),
    default=ImportMode.SUBSCRIBE.value,
    show_default=True,
    help="subscribe to the lists, or blocklist every address.",
)
@click.option(
    "--status",
    type=click.Choice([SubscriptionStatus.UNCONFIRMED.value, SubscriptionStatus.CONFIRMED.value]),
    default=SubscriptionStatus.UNCONFIRMED.value,
    show_default=True,
    help="Subscription status for new subscriptions.",
)
@click.option(
    "--overwrite-info", is_flag=True, help="Replace name and attributes of existing subscribers."
)
@click.option(
    "--overwrite-status", is_flag=True, help="Replace the status of existing subscriptions."
)
@click.option(
    "--delimiter",
    default=",",
    show_default=True,
    callback=_delimiter,
    help="One character; \\t for tab.",
)
@click.option(
    "--encoding",
    metavar="NAME",
    callback=_encoding,
    help="The file's text encoding, e.g. latin-1 or cp1252. Default: UTF-8 (UTF-16 by its BOM).",
)
@click.option(
    "--errors-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the skipped rows as CSV (line,error,raw).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def import_cmd(
    app: AppContext,
    file: Path,
    lists: tuple[str, ...],
    mode: str,
    status: str,
    overwrite_info: bool,
    overwrite_status: bool,
    delimiter: str,
    encoding: str | None,
    errors_file: Path | None,
    as_json: bool,
) -> None:
    """Import subscribers from FILE (.csv, .csv.gz, or a .zip holding one .csv file).

    Columns: email (required), name, attributes (a JSON object), in any order; others are
    ignored. Bad rows are skipped and reported with their line numbers; every good row is
    imported. Exit 0 when the file was imported (bad rows included), 1 when it could not be
    read, or a batch was refused by the database.
    """
    _prestart_writer(app)
    request = ImportRequest(
        path=file,
        lists=lists,
        mode=ImportMode(mode),
        status=SubscriptionStatus(status),
        overwrite_info=overwrite_info,
        overwrite_status=overwrite_status,
        delimiter=delimiter,
        encoding=encoding,
        batch_size=app.settings.app.batch_size,
    )
    sink = ErrorsFile(errors_file) if errors_file is not None else None
    progress = Progress(f"importing {file.name}") if sys.stderr.isatty() and not as_json else None
    try:
        report = run(_import(app, request, sink, progress))
    finally:
        discard_spare()
        if progress is not None:
            progress.close()
        if sink is not None:
            sink.close()
    if as_json:
        print_json(_json(report))
        if report.aborted:
            click.echo(f"error: the import stopped early: {report.aborted}", err=True)
    else:
        _summary(file, report, errors_file)
    if not report.complete:
        sys.exit(1)
