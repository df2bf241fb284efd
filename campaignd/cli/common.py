"""Shared CLI plumbing: the settings context, opening the store, output as tables or JSON."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from campaignd.config import Settings, load_settings
from campaignd.store.protocol import Store

T = TypeVar("T")


@dataclasses.dataclass
class AppContext:
    """What every command gets: the settings path, and the settings loaded on first use."""

    config_path: Path | None
    _settings: Settings | None = None
    # Whether config_path came from `--config` before the command (not CAMPAIGND_CONFIG).
    config_given: bool = False

    def use_config(self, path: Path) -> None:
        """`--config PATH` after the command: it wins over CAMPAIGND_CONFIG; a different file
        also given before the command is refused (which one was meant is not clear)."""
        if self.config_given and self.config_path is not None and path != self.config_path:
            raise click.UsageError(
                f"--config given twice ({self.config_path} and {path}); give it once"
            )
        self.config_path, self.config_given, self._settings = path, True, None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings


pass_app = click.make_pass_decorator(AppContext)


def run(coro: Awaitable[T]) -> T:
    """Run one coroutine for a command."""

    async def _wrap() -> T:
        return await coro

    return asyncio.run(_wrap())


@asynccontextmanager
async def open_store(settings: Settings, *, check_schema: bool = True) -> AsyncIterator[Store]:
    """The SQL store for the configured database; refuses an out-of-date schema."""
    from campaignd.store.sql import SqlStore

    store = await SqlStore.open(settings.db.url)
    try:
        if check_schema:
            await store.check_schema()
        yield store
    finally:
        await store.close()


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, datetimes and UUIDs as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    click.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False, sort_keys=True))


def _cell(value: Any) -> str:
    value = to_jsonable(value)
    if value is None:
        return "-"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False) if value else "-"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table; an empty result says so."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def fail(message: str, code: int = 1) -> None:
    """Print an error and exit."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def async_command(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Adapt an async click callback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        run(fn(*args, **kwargs))

    return wrapper
