"""The in-memory ImportStore's upsert: one batch of CSV rows, as SqlStore.import_batch does it."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections.abc import Sequence

from campaignd.domain import (
    ImportCounts,
    ImportMode,
    ImportOptions,
    NewSubscriber,
    SubscriberStatus,
    SubscriptionStatus,
    utcnow,
)
from campaignd.rules import plan_subscriptions
from campaignd.store.memory.state import Link, MemoryState, Sub


class MemoryImport(MemoryState):
    """import_batch (get_list, the rest of ImportStore: MemorySubscribers)."""

    async def import_batch(
        self, rows: Sequence[NewSubscriber], options: ImportOptions
    ) -> ImportCounts:
        if not rows:
            return ImportCounts()
        self._require_lists(options.list_ids)
        now = utcnow()
        blocklist = options.mode is ImportMode.BLOCKLIST
        batch: dict[str, NewSubscriber] = {}
        for row in rows:
            batch.setdefault(row.email.lower(), row)
        inserted = 0
        existing: list[Sub] = []
        changed: set[int] = set()
        targets: list[int] = []  # subscribers to put on the lists
        for key, row in batch.items():
            sid = self._by_key.get(key)
            if sid is None:
                status = SubscriberStatus.BLOCKLISTED if blocklist else SubscriberStatus.ENABLED
                targets.append(self._insert(row, status, now).id)
                inserted += 1
                continue
            sub = self._subs[sid]
            existing.append(sub)
            status = SubscriberStatus.BLOCKLISTED if blocklist else sub.status
            fields = options.info_fields if options.overwrite_info else frozenset()
            name = row.name if "name" in fields else sub.name
            attributes = dict(row.attributes) if "attributes" in fields else sub.attributes
            if name != sub.name or attributes != sub.attributes:
                sub.name, sub.attributes = name, copy.deepcopy(attributes)
                sub.status, sub.updated_at = status, now
                changed.add(sid)
            elif status != sub.status:
                sub.status, sub.updated_at = status, now
                changed.add(sid)
        if blocklist:
            for sub in existing:
                if self._unsubscribe(sub.id, None, now):
                    changed.add(sub.id)
        elif options.list_ids:
            # New subscribers count as inserted, not as changed by their subscriptions.
            new_ids = set(targets)
            targets += [s.id for s in existing if s.status != SubscriberStatus.BLOCKLISTED]
            changed |= self._subscribe(targets, options, now) - new_ids
        return ImportCounts(
            inserted=inserted,
            updated=len(changed),
            skipped=len(existing) - len(changed) + len(rows) - len(batch),
        )

    def _subscribe(self, ids: list[int], options: ImportOptions, now: dt.datetime) -> set[int]:
        """Put `ids` on the chosen lists by campaignd.rules.plan_subscriptions; return the ids
        changed."""
        list_ids = list(dict.fromkeys(options.list_ids))
        links = ((key, self._links.get(key)) for key in itertools.product(ids, list_ids))
        current = {key: link.status for key, link in links if link is not None}
        inserts, updates, changed = plan_subscriptions(
            ids, list_ids, current, options.status, options.overwrite_status, now
        )
        for sid, lid, status, created, updated in inserts:
            self._links[(sid, lid)] = Link(SubscriptionStatus(status), created, updated)
        for status, updated, sid, lid in updates:
            link = self._links[(sid, lid)]
            link.status, link.updated_at = SubscriptionStatus(status), updated
        return changed
