"""The schema revision this code needs, read without importing alembic (it costs every CLI
command ~0.4 s). tests/migrations checks SCHEMA_HEAD against the migration chain's head."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

#: The newest migration in migrations/versions; bump it with every new migration.
SCHEMA_HEAD = "0003"


async def database_revision(conn: AsyncConnection) -> str | None:
    """The revision recorded in alembic_version, or None for an empty database."""
    try:
        async with conn.begin_nested():
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except SQLAlchemyError:
        return None  # no alembic_version table: never migrated
    return str(rows[0][0]) if len(rows) == 1 else None
