"""Store rules shared by the SQL store and its in-memory twin (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from campaignd.domain import Campaign, CampaignStatus
from campaignd.errors import TransitionRefused


def refusal(
    campaign_id: int,
    current: CampaignStatus,
    to: CampaignStatus,
    expected: frozenset[CampaignStatus],
) -> TransitionRefused:
    allowed = ", ".join(sorted(s.value for s in expected)) or "nothing"
    return TransitionRefused(
        f"campaign {campaign_id} is {current.value}; it can become {to.value} only from: {allowed}"
    )


def transition_values(
    current: Campaign,
    to: CampaignStatus,
    now: dt.datetime,
    send_at: dt.datetime | None,
    reason: str | None,
) -> dict[str, Any]:
    """The fields a transition sets."""
    values: dict[str, Any] = {"status": to, "updated_at": now}
    if to is CampaignStatus.RUNNING:
        if current.started_at is None:
            values["started_at"] = now
        # Resuming starts a fresh error budget: the operator has looked at the reason.
        values["send_errors"] = 0
        values["finished_at"] = None
    if to in (CampaignStatus.FINISHED, CampaignStatus.CANCELLED):
        values["finished_at"] = now
    values["pause_reason"] = reason if to is CampaignStatus.PAUSED else None
    if send_at is not None:
        values["send_at"] = send_at
    return values


def plan_subscriptions(
    ids: Iterable[int],
    list_ids: Sequence[int],
    current: Mapping[tuple[int, int], str],
    status: str,
    overwrite_status: bool,
    ts: Any,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], set[int]]:
    """Subscribing existing subscribers `ids` to `list_ids`, given their current subscription
    statuses: (rows to insert, rows to update, subscribers changed). Shared by both import
    paths so they count `updated` the same way."""
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    changed: set[int] = set()
    for sid in ids:
        for lid in list_ids:
            was = current.get((sid, lid))
            if was is None:
                inserts.append((sid, lid, status, ts, ts))
                changed.add(sid)
            elif overwrite_status and was != status:
                updates.append((status, ts, sid, lid))
                changed.add(sid)
    return inserts, updates, changed
