"""The database's schema revision, read without importing alembic (it costs every CLI command
~0.4 s). SCHEMA_HEAD, the revision this code needs, is in campaignd.db.head."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from campaignd.db.head import SCHEMA_HEAD

__all__ = ["SCHEMA_HEAD", "database_revision"]


async def database_revision(conn: AsyncConnection) -> str | None:
    """The revision recorded in alembic_version, or None for an empty database."""
    try:
        async with conn.begin_nested():
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except SQLAlchemyError:
        return None  # no alembic_version table: never migrated
    return str(rows[0][0]) if len(rows) == 1 else None
