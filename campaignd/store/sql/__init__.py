"""SqlStore: the Store protocol on SQLite or PostgreSQL through SQLAlchemy's async engine.

One part per focused protocol of campaignd.store.protocol, each a mixin over one shared base
(base.SqlBase: the engine, the transaction runner, the SQLite fast paths): campaigns.py
(CampaignStore), ledger.py (LedgerStore), lists.py, subscribers.py, people.py, selfservice.py
and importing.py (SubscriberStore, ImportStore), bounces.py (BounceStore), tracking.py
(TrackingStore), tokens.py (ApiTokenStore). The SQL itself is in campaignd.db.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from campaignd.store.sql.base import ANALYZE_AFTER_ROWS, upgrade_schema
from campaignd.store.sql.bounces import SqlBounces
from campaignd.store.sql.campaigns import SqlCampaigns
from campaignd.store.sql.importing import SqlImport
from campaignd.store.sql.ledger import SqlLedger
from campaignd.store.sql.lists import SqlLists
from campaignd.store.sql.people import SqlPeople
from campaignd.store.sql.selfservice import SqlSelfService
from campaignd.store.sql.tokens import SqlTokens
from campaignd.store.sql.tracking import SqlTracking


class SqlStore(
    SqlCampaigns,
    SqlLedger,
    SqlLists,
    SqlPeople,
    SqlSelfService,
    SqlImport,
    SqlBounces,
    SqlTracking,
    SqlTokens,
):
    """The Store on a SQL database; every method is one transaction."""


if TYPE_CHECKING:
    from campaignd.store.protocol import Store

    def _implements_store(store: SqlStore) -> Store:  # mypy checks every focused protocol
        return store


__all__ = ["ANALYZE_AFTER_ROWS", "SqlStore", "upgrade_schema"]
