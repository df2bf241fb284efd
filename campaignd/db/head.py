"""The schema revision this code needs, in a module that imports nothing (no SQLAlchemy), so a
command that never touches SQLAlchemy (`subscribers import` on SQLite) can check it too.
tests/migrations checks SCHEMA_HEAD against the migration chain's head."""

from __future__ import annotations

#: The newest migration in migrations/versions; bump it with every new migration.
SCHEMA_HEAD = "0008"

SCHEMA_MESSAGE = "database schema is out of date (or empty): run `campaignd db upgrade`"
