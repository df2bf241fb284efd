"""Double opt-in: send the confirmation message to subscribers awaiting it, once each.

Subscribers with an unconfirmed subscription on a double opt-in list, and no confirmation sent
yet, get one message rendered from a template (the built-in one, or the operator's) that links to
``{{ optin_url() }}``. The link names the lists it confirms (the subscriber's unconfirmed ones,
within `list_ids` when given) and shows a page whose button confirms them (campaignd.http.optin).
A message is recorded as sent once the server accepted it, or when it may have been delivered
(no reply after the final "."), so nobody gets it twice; failures are tried again next time.
The message never carries the subscriber's stored name (see _recipient).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from campaignd.addresses import name_from_email
from campaignd.config import AppSettings
from campaignd.domain import (
    Campaign,
    CampaignStatus,
    ContentType,
    OutcomeKind,
    Recipient,
    Subscriber,
    SubscriptionStatus,
    utcnow,
)
from campaignd.errors import InvalidInput, MessengerError, TemplateError
from campaignd.messengers.protocol import Messenger
from campaignd.rendering.compose import CampaignMailer
from campaignd.rendering.dkim import DkimSigner
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

DEFAULT_SUBJECT = "Please confirm your subscription"

DEFAULT_TEMPLATE = """\
<p>Hello,</p>
<p>Please confirm that you want to receive our emails at {{ subscriber.email }}:</p>
<p><a href="{{ optin_url() }}">Confirm my subscription</a></p>
<p>If you did not ask for this, ignore this message: you will not hear from us again.</p>
"""

#: The uuid of the stand-in campaign the confirmation is rendered as (its List-Unsubscribe
#: link, being for no real campaign, unsubscribes from every list).
OPTIN_CAMPAIGN_UUID = uuid.uuid5(uuid.NAMESPACE_URL, "campaignd:optin-confirmation")
_PAGE = 200


@dataclass
class OptinReport:
    sent: int = 0
    failed: int = 0
    unknown: int = 0


def prepare(
    app: AppSettings,
    secret: str,
    *,
    template: str = DEFAULT_TEMPLATE,
    subject: str = DEFAULT_SUBJECT,
    from_email: str = "",
    now: dt.datetime | None = None,
    dkim: DkimSigner | None = None,
) -> CampaignMailer:
    """The confirmation message, compiled once; raises TemplateError or InvalidInput."""
    if "optin_url" not in template:
        raise InvalidInput("the opt-in template must link to {{ optin_url() }}")
    now = now or utcnow()
    stand_in = Campaign(
        id=0,
        uuid=OPTIN_CAMPAIGN_UUID,
        name="opt-in confirmation",
        subject=subject,
        from_email=from_email,
        body=template,
        alt_body=None,
        content_type=ContentType.HTML,
        template_id=None,
        messenger="",
        headers=(),
        tags=(),
        status=CampaignStatus.RUNNING,
        send_at=None,
        list_ids=(),
        created_at=now,
        updated_at=now,
    )
    return CampaignMailer.prepare(stand_in, None, app, secret, dkim=dkim)


def _recipient(sub: Subscriber) -> Recipient:
    """The confirmation's recipient. Its name is made from the address, never the one stored:
    a name typed into the public form by anyone, for any address, would otherwise go out in
    our mail (To and the greeting) to that address: spam or phishing sent from our domain."""
    name = name_from_email(sub.email)
    return Recipient(0, 0, sub.id, sub.uuid, sub.email, name, dict(sub.attributes), 0)


def _pending(sub: Subscriber, list_ids: Sequence[int] | None) -> tuple[int, ...]:
    """The lists the subscriber's link confirms: the unconfirmed ones (the store confirms only
    those on double opt-in lists), within `list_ids` when given."""
    return tuple(
        s.list_id
        for s in sub.subscriptions
        if s.status is SubscriptionStatus.UNCONFIRMED
        and (list_ids is None or s.list_id in list_ids)
    )


async def send_confirmation(
    store: Store,
    messenger: Messenger,
    mailer: CampaignMailer,
    sub: Subscriber,
    list_ids: Sequence[int],
    clock: Callable[[], dt.datetime] = utcnow,
) -> OutcomeKind | None:
    """Send `sub` the confirmation naming `list_ids`; record it as sent once the server took it
    (or may have: no reply after the final "."). None when the message could not be built.
    Raise MessengerError when the server refused our credentials."""
    try:
        _, data = mailer.build(_recipient(sub), clock(), list_ids)
    except TemplateError as exc:
        log.warning(
            "opt-in message for subscriber %d not built: %s",
            sub.id,
            exc,
            extra={"action": "optin.failed"},
        )
        return None
    outcome = await messenger.send(mailer.envelope_from, [sub.email], data, mailer.sign)
    if outcome.auth_failed:
        raise MessengerError(
            f"authentication failed on {outcome.server}: {outcome.code} {outcome.text}"
        )
    if outcome.kind not in (OutcomeKind.SENT, OutcomeKind.UNKNOWN):
        log.warning(
            "opt-in message to subscriber %d failed: %s %s",
            sub.id,
            outcome.code or "",
            outcome.text,
            extra={"action": "optin.failed"},
        )
        return outcome.kind
    await store.mark_optin_sent(sub.id, clock())  # it may have arrived: never send it twice
    return outcome.kind


async def send_optins(
    store: Store,
    messenger: Messenger,
    mailer: CampaignMailer,
    *,
    list_ids: Sequence[int] | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> OptinReport:
    """Send the confirmation to everyone awaiting one (on `list_ids` when given)."""
    report = OptinReport()
    after = 0
    while batch := await store.optin_pending(list_ids, after_id=after, limit=_PAGE):
        for sub in batch:
            after = sub.id
            kind = await send_confirmation(
                store, messenger, mailer, sub, _pending(sub, list_ids), clock
            )
            if kind is OutcomeKind.SENT:
                report.sent += 1
            elif kind is OutcomeKind.UNKNOWN:
                report.unknown += 1
            else:
                report.failed += 1
    log.info(
        "opt-in confirmations: %d sent, %d failed, %d unknown",
        report.sent,
        report.failed,
        report.unknown,
        extra={"action": "optin.done"},
    )
    return report
