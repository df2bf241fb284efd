"""MemoryStore: the in-memory twin of SqlStore; passes the same contract suite.

One part per focused protocol of campaignd.store.protocol, each a mixin over one shared state
(state.MemoryState): campaigns.py (CampaignStore), ledger.py (LedgerStore), subscribers.py,
people.py and importing.py (SubscriberStore, ImportStore), bounces.py (BounceStore), tracking.py
(TrackingStore), tokens.py (ApiTokenStore). The business rules it shares with the SQL store
are campaignd.rules, not re-implemented here.
May import: the core (domain, errors, rules). Never db/ or anything above store/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from campaignd.store.memory.bounces import MemoryBounces
from campaignd.store.memory.campaigns import MemoryCampaigns
from campaignd.store.memory.importing import MemoryImport
from campaignd.store.memory.ledger import MemoryLedger
from campaignd.store.memory.people import MemoryPeople
from campaignd.store.memory.subscribers import MemorySubscribers
from campaignd.store.memory.tokens import MemoryTokens
from campaignd.store.memory.tracking import MemoryTracking


class MemoryStore(
    MemoryCampaigns,
    MemoryLedger,
    MemorySubscribers,
    MemoryPeople,
    MemoryImport,
    MemoryBounces,
    MemoryTracking,
    MemoryTokens,
):
    """Everything in dictionaries; every method is atomic (no awaits inside)."""


if TYPE_CHECKING:
    from campaignd.store.protocol import Store

    def _implements_store(store: MemoryStore) -> Store:  # mypy checks every focused protocol
        return store


__all__ = ["MemoryStore"]
