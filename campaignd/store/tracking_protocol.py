"""The storage seam for opens and clicks (campaignd.store.protocol.Store includes it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from campaignd.domain import Hit, HitCount, HitKind, LedgerPoint


class TrackingStore(Protocol):
    """Opens and clicks, written in batches, and what campaign statistics read."""

    async def record_hits(self, hits: Sequence[Hit]) -> None:
        """Add the hits in one transaction: counted per campaign, kind, machine or not, link
        and minute (no subscriber); a hit naming a subscriber (individual mode) also gets a row
        of its own."""
        ...

    async def hit_counts(self, campaign_id: int) -> list[HitCount]:
        """The campaign's counts per kind, machine, link and minute, in minute order."""
        ...

    async def unique_hitters(self, campaign_id: int) -> dict[tuple[HitKind, bool], int]:
        """Per (kind, machine): how many distinct subscribers the per-subscriber rows name."""
        ...

    async def ledger_series(self, campaign_id: int) -> list[LedgerPoint]:
        """Ledger rows now sent, failed or unknown, per minute of their last update."""
        ...
