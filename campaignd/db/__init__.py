"""The database adapter: SQLModel tables, the async engine, migrations glue, set-based SQL.

SQLAlchemy lives here and in store/sql.py only. db/sqlite/ holds the SQLite fast paths,
db/postgres/ the PostgreSQL import (asyncpg directly).
May import: the core (campaignd.errors, domain, rules).
Never store/, use cases, http/, daemon/ or cli/.
"""
