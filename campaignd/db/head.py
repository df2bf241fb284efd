"""The schema revision this code needs, in a module that imports nothing (no SQLAlchemy), so a
command that never touches SQLAlchemy (`subscribers import` on SQLite) can check it too.
tests/migrations checks SCHEMA_HEAD against the migration chain's head."""

from __future__ import annotations

#: The newest migration in migrations/versions; bump it with every new migration.
SCHEMA_HEAD = "0007"

SCHEMA_MESSAGE = "database schema is out of date (or empty): run `campaignd db upgrade`"


def missing_database(url_path: str, cwd: str) -> str:
    """Why a SQLite URL names no database yet, for a command other than `db upgrade`: a
    relative path (``sqlite:///x.db``, three slashes) is explained, as it is relative to the
    current directory (systemd: the unit's WorkingDirectory), and a missing directory named."""
    import os.path

    absolute = os.path.normpath(os.path.join(cwd, url_path))
    directory = os.path.dirname(absolute)
    line = f"the database file {absolute} does not exist"
    if not os.path.isdir(directory):
        line += f" (nor its directory {directory})"
    if not os.path.isabs(url_path):
        line += (
            f": sqlite:///{url_path} (three slashes) is relative to the current directory "
            f"{cwd} (under systemd the unit's WorkingDirectory); for an absolute path write "
            f"four slashes, sqlite:///{absolute}"
        )
    return line + "; run `campaignd db upgrade` to create it"
