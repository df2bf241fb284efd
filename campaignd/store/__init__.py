"""Storage: the store protocols, SqlStore (store/sql/) and its in-memory twin (store/memory/).

protocol.py: the focused protocols (SchemaStore, CampaignStore, LedgerStore, SubscriberStore with
ImportStore, BounceStore, ApiTokenStore) and Store, their union. sql/ and memory/: one mixin
per focused protocol over one shared state; both pass the same contract suite (tests/integration/
test_store_*.py). sqlite_import.py: the SQLAlchemy-free ImportStore of `subscribers import`.
The rules both stores must agree on are campaignd.rules, not re-implemented here.

May import: the core (domain, errors, rules); db/ (store/sql/ and store/sqlite_import.py only).
Never use cases, http/, daemon/ or cli/.
"""

from __future__ import annotations

from campaignd.store.protocol import Store

__all__ = ["Store"]
