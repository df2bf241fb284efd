"""GDPR access: everything held about one subscriber, as one JSON object."""

from __future__ import annotations

import datetime as dt
from typing import Any

from campaignd.domain import PersonalData
from campaignd.store.protocol import SubscriberStore


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def as_json(data: PersonalData, now: dt.datetime) -> dict[str, Any]:
    """The shape `subscribers export-data` prints (documented in docs/subscribers.md)."""
    sub = data.subscriber
    return {
        "exported_at": _time(now),
        "profile": {
            "id": sub.id,
            "uuid": str(sub.uuid),
            "email": sub.email,
            "name": sub.name,
            "attributes": dict(sub.attributes),
            "status": sub.status.value,
            "created_at": _time(sub.created_at),
            "updated_at": _time(sub.updated_at),
        },
        "subscriptions": [
            {
                "list_id": s.list_id,
                "list_name": s.list_name,
                "status": s.status.value,
                "created_at": _time(s.created_at),
                "updated_at": _time(s.updated_at),
            }
            for s in data.subscriptions
        ],
        "optin_sent_at": _time(data.optin_sent_at),
        "ledger": [
            {
                "campaign_id": d.campaign_id,
                "campaign_name": d.campaign_name,
                "status": d.status.value,
                "attempts": d.attempts,
                "code": d.code,
                "enhanced": d.enhanced,
                "reply": d.text,
                "updated_at": _time(d.updated_at),
            }
            for d in data.deliveries
        ],
        "bounces": [
            {
                "campaign_id": b.campaign_id,
                "type": b.kind,
                "source": b.source,
                "reason": b.reason,
                "created_at": _time(b.created_at),
            }
            for b in data.bounces
        ],
    }


async def export_data(store: SubscriberStore, email: str, now: dt.datetime) -> dict[str, Any]:
    """Everything held about the subscriber `email` (NotFound otherwise), read in one go."""
    found = await store.get_subscriber(email)
    return as_json(await store.personal_data(found.id), now)
