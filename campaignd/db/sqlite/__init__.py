"""SQLite fast paths: stdlib sqlite3 on a thread of its own, without SQLAlchemy.

- direct.py: the ledger's hot writes (claims, the recorder's group commits) in one thread hop.
- `subscribers import` on a SQLite file through one sqlite3 connection: fastimport.py
  (SqliteBulk: one batch, one transaction), upsert.py (the SQL of one batch), bulkrows.py (the
  rows as tuples, columns, one packed string), checkpoint.py (WAL checkpoints on a thread of
  their own) and writer.py (one import's writer child process, BulkSession).
docs/architecture.md lists every fast path with its measured reason.
May import: the core and db/ modules.
"""
