"""`campaignd db`: create or upgrade the database schema."""

from __future__ import annotations

from pathlib import Path

import click

from campaignd.cli.common import AppContext, async_command, pass_app


@click.group()
def db() -> None:
    """Manage the database schema."""


def database_line(url: str, cwd: Path) -> str:
    """Which database a command uses, password masked; a relative SQLite path is explained
    (``sqlite:///x.db`` is relative to the current directory, ``sqlite:////x.db`` absolute)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return "database: <invalid database URL>"
    line = f"database: {parsed.render_as_string(hide_password=True)}"
    database = parsed.database or ""
    if (
        parsed.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not database.startswith("file:")
        and not Path(database).is_absolute()
    ):
        absolute = cwd / database
        line += (
            f"\n  sqlite:/// (three slashes) is a path relative to the current directory: "
            f"{absolute}\n  sqlite://// (four slashes) is an absolute path, the same file from "
            f"anywhere: sqlite:///{absolute}"
        )
    return line


@db.command("upgrade")
@pass_app
@async_command
async def upgrade(app: AppContext) -> None:
    """Create the schema, or bring it to the newest version (safe to run again)."""
    from campaignd.store.sql import upgrade_schema

    url = app.settings.db.url
    click.echo(database_line(url, Path.cwd()))
    revision = await upgrade_schema(url)
    click.echo(f"database schema at revision {revision}")
