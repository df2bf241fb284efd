"""SQLite fast paths: stdlib sqlite3 on a thread of its own, without SQLAlchemy.

- direct.py: the ledger's hot writes (claims, the recorder's group commits) in one thread hop.
- fastimport.py: `subscribers import` on a SQLite file through one sqlite3 connection,
  optionally in its own process.
docs/architecture.md lists every fast path with its measured reason.
May import: the core and db/ modules.
"""
