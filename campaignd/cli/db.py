"""`campaignd db`: create or upgrade the database schema."""

from __future__ import annotations

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
    from campaignd.store.sql import upgrade_schema

    revision = await upgrade_schema(app.settings.db.url)
    click.echo(f"database schema at revision {revision}")
