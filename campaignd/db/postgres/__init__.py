"""PostgreSQL fast paths: asyncpg directly, without SQLAlchemy.

- `subscribers import` on PostgreSQL: copysql.py (one batch: COPY into a temporary staging
  table, then set-based upserts; duplicates of earlier batches found in a temporary table) and
  copyimport.py (one import's connection on a thread of its own, CopySession, the BulkSession
  shape that importing/bulkpump.py drives).
docs/architecture.md lists every fast path with its measured reason.
May import: the core and db/ modules.
"""
