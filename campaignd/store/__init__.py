"""Storage: the Store protocol, SqlStore (store.sql) and its in-memory twin (store.memory).

May import: the core and db/ (store/sql.py and store/sqlite_import.py only). Never use cases,
http/, daemon/ or cli/.
"""

from __future__ import annotations

from campaignd.store.protocol import Store

__all__ = ["Store"]
