"""The database adapter: SQLModel tables, the async engine, migrations glue, set-based SQL.

SQLAlchemy lives here and in store/sql/ only. The delivery ledger's SQL: ledger.py (the fill),
claims.py (claim, renew, release, recover, reset), outcomes.py (record, counts, failures);
campaigns.py, links.py (opt-in, bounces), audience.py, bulk.py (imports). db/sqlite/ holds
the SQLite fast paths, db/postgres/ the PostgreSQL import (asyncpg directly, COPY).
May import: the core (campaignd.errors, domain, rules).
Never store/, use cases, http/, daemon/ or cli/.
"""
