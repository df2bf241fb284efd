"""`subscribers export`: subscribers as CSV that `subscribers import` reads back, page by page."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from typing import TextIO

from campaignd.domain import Subscriber, SubscriberStatus
from campaignd.importing.csvsafe import safe_row
from campaignd.store.protocol import SubscriberStore

#: The columns, listmonk's names: import reads email, name, attributes and status.
COLUMNS = ("email", "name", "attributes", "status", "uuid", "created_at", "updated_at")
PAGE_SIZE = 1000


def row(sub: Subscriber) -> list[object]:
    """One subscriber's cells, spreadsheet-safe (campaignd.importing.csvsafe)."""
    return safe_row(
        [
            sub.email,
            sub.name,
            json.dumps(dict(sub.attributes), ensure_ascii=False, sort_keys=True),
            sub.status.value,
            str(sub.uuid),
            sub.created_at.isoformat(),
            sub.updated_at.isoformat(),
        ]
    )


async def pages(
    store: SubscriberStore,
    *,
    list_name: str | None = None,
    status: SubscriberStatus | None = None,
    page_size: int = PAGE_SIZE,
) -> AsyncIterator[list[Subscriber]]:
    """The chosen subscribers in id order, a page at a time (keyset: memory stays flat).
    An unknown list name raises NotFound before anything is yielded."""
    list_id = None if list_name is None else (await store.get_list(list_name)).id
    after = 0
    while True:
        page = await store.subscribers_page(
            after_id=after, limit=page_size, list_id=list_id, status=status
        )
        if page:
            yield page
        if len(page) < page_size:
            return
        after = page[-1].id


async def write_csv(
    store: SubscriberStore,
    out: TextIO,
    *,
    list_name: str | None = None,
    status: SubscriberStatus | None = None,
    page_size: int = PAGE_SIZE,
) -> int:
    """Write the header and every chosen subscriber to `out`; return how many were written."""
    chosen = pages(store, list_name=list_name, status=status, page_size=page_size)
    first = await anext(chosen, None)  # an unknown list fails before the header is written
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    written = 0
    if first is None:
        return 0
    writer.writerows(row(s) for s in first)
    written += len(first)
    async for page in chosen:
        writer.writerows(row(s) for s in page)
        written += len(page)
    return written
