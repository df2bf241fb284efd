"""Storage: the Store protocol, SqlStore (store.sql) and its in-memory twin (store.memory)."""

from __future__ import annotations

from campaignd.store.protocol import ImportOptions, Store

__all__ = ["ImportOptions", "Store"]
