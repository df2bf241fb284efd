"""Alembic environment: migrate the connection campaignd hands over, or the configured URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from campaignd.db import tables
from campaignd.db.engine import async_url, create_engine

config = context.config
target_metadata = tables.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ.get(
        "CAMPAIGND_DB__URL", "sqlite:///campaignd.db"
    )


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: copy-and-move tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _migrate_url(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate)
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=async_url(_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # `campaignd db upgrade` passes its own connection
        _migrate(connection)
    else:  # the plain `alembic` command (developers: revision --autogenerate)
        asyncio.run(_migrate_url(_url()))


if context.is_offline_mode():
    run_offline()
else:
    run_online()
