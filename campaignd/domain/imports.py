"""CSV imports: the mode, the options one batch is written with, and its counts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from campaignd.domain.subscribers import SubscriptionStatus


class ImportMode(StrEnum):
    SUBSCRIBE = "subscribe"
    BLOCKLIST = "blocklist"


@dataclass(frozen=True, slots=True)
class ImportCounts:
    inserted: int = 0
    updated: int = 0
    skipped: int = 0

    def __add__(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.skipped + other.skipped,
        )


#: The subscriber fields an import sets from its columns.
INFO_FIELDS: frozenset[str] = frozenset({"name", "attributes"})


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How one import batch is written: the mode, the lists, and what it may overwrite."""

    mode: ImportMode = ImportMode.SUBSCRIBE
    list_ids: tuple[int, ...] = ()
    status: SubscriptionStatus = SubscriptionStatus.UNCONFIRMED
    overwrite_info: bool = False  # replace name/attributes of existing subscribers
    overwrite_status: bool = False  # replace subscription status of existing subscriptions
    # With overwrite_info: the fields the file has a column for; the others are left alone.
    info_fields: frozenset[str] = INFO_FIELDS
