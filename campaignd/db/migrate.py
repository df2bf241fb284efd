"""Alembic, driven programmatically: upgrade to head and read the schema's revision."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

import campaignd
from campaignd.db.engine import create_engine, create_private_file, describe, sqlite_path
from campaignd.errors import StoreError

log = logging.getLogger(__name__)

#: The one migration chain, next to the package in the source tree.
MIGRATIONS_DIR = Path(campaignd.__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision of the migration chain."""
    try:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    except CommandError as exc:
        raise StoreError(f"cannot read the migrations in {MIGRATIONS_DIR}: {exc}") from exc
    if head is None:
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection, config: Config) -> str | None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return current_revision(connection)


async def upgrade(url: str) -> str:
    """Bring the database to the newest revision (idempotent); return that revision."""
    path = sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
            raise StoreError(
                f"cannot create the directory {path.parent}{where}: {exc.strerror}"
            ) from exc
        try:
            create_private_file(path)
        except OSError as exc:
            raise StoreError(f"cannot create the database file {path}: {exc.strerror}") from exc
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            before = await conn.run_sync(current_revision)
            after = await conn.run_sync(_upgrade, alembic_config())
    except (SQLAlchemyError, CommandError, OSError) as exc:
        raise StoreError(f"database upgrade failed on {describe(url)}: {exc}") from exc
    finally:
        await engine.dispose()
    if after is None:
        raise StoreError("database upgrade left no revision recorded")
    log.info("database at revision %s (was %s)", after, before, extra={"action": "db.upgrade"})
    return after
