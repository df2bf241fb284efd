"""Domain values shared by every layer: frozen dataclasses and string enums, no I/O.

Lives here, by what the values serve: subscribers, their lists and subscriptions
(subscribers.py); campaigns, their status and templates (campaigns.py); the ledger and sending:
recipients, outcomes, records, send events, tallies (ledger.py); what comes back from
recipients: bounces, tracking modes and hits (feedback.py); CSV import options and counts
(imports.py); a subscriber's personal data for GDPR access (personal.py); admin API tokens
(access.py); strict JSON from outside and the attributes check (jsontext.py); the clock,
utcnow and as_utc (clock.py).
Import the names from ``campaignd.domain``; they are all re-exported here.
May import: the standard library only (the modules here import each other); nothing else of
ours: this is the bottom layer but for campaignd.errors.
"""

from __future__ import annotations

from campaignd.domain.access import ApiToken
from campaignd.domain.campaigns import (
    Campaign,
    CampaignCounts,
    CampaignStatus,
    ContentType,
    NewCampaign,
    Template,
)
from campaignd.domain.clock import as_utc, utcnow
from campaignd.domain.feedback import (
    TRACK_OPTIONS,
    Bounce,
    BounceCounts,
    Hit,
    HitCount,
    HitKind,
    TrackingMode,
)
from campaignd.domain.imports import (
    INFO_FIELDS,
    ImportCounts,
    ImportMode,
    ImportOptions,
)
from campaignd.domain.jsontext import MAX_ATTRIBUTES, check_attributes, strict_loads
from campaignd.domain.ledger import (
    OPEN_DELIVERY,
    DeliveryRecord,
    DeliveryStatus,
    Failure,
    LedgerPoint,
    OutcomeKind,
    Recipient,
    SendEvent,
    SendObserver,
    SendOutcome,
    Tally,
)
from campaignd.domain.personal import (
    BounceEntry,
    DeliveryEntry,
    PersonalData,
    SubscriptionRecord,
)
from campaignd.domain.subscribers import (
    MailingList,
    NewSubscriber,
    OptIn,
    Subscriber,
    SubscriberStatus,
    SubscriberUpdate,
    Subscription,
    SubscriptionDay,
    SubscriptionStatus,
)

__all__ = [
    "INFO_FIELDS",
    "MAX_ATTRIBUTES",
    "OPEN_DELIVERY",
    "TRACK_OPTIONS",
    "ApiToken",
    "Bounce",
    "BounceCounts",
    "BounceEntry",
    "Campaign",
    "CampaignCounts",
    "CampaignStatus",
    "ContentType",
    "DeliveryEntry",
    "DeliveryRecord",
    "DeliveryStatus",
    "Failure",
    "Hit",
    "HitCount",
    "HitKind",
    "ImportCounts",
    "ImportMode",
    "ImportOptions",
    "LedgerPoint",
    "MailingList",
    "NewCampaign",
    "NewSubscriber",
    "OptIn",
    "OutcomeKind",
    "PersonalData",
    "Recipient",
    "SendEvent",
    "SendObserver",
    "SendOutcome",
    "Subscriber",
    "SubscriberStatus",
    "SubscriberUpdate",
    "Subscription",
    "SubscriptionDay",
    "SubscriptionRecord",
    "SubscriptionStatus",
    "Tally",
    "Template",
    "TrackingMode",
    "as_utc",
    "check_attributes",
    "strict_loads",
    "utcnow",
]
