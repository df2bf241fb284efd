"""`campaignd db`: create or upgrade the database schema."""

from __future__ import annotations

from pathlib import Path

import click

from campaignd.cli.common import AppContext, async_command, pass_app


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@pass_app
@async_command
async def upgrade(app: AppContext) -> None:
    """Create the schema, or bring it to the newest version (safe to run again)."""
    from campaignd.db.engine import database_line
    from campaignd.store.sql import upgrade_schema

    url = app.settings.db.url
    click.echo(database_line(url, Path.cwd()))
    revision = await upgrade_schema(url)
    click.echo(f"database schema at revision {revision}")
