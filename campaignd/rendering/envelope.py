"""A campaign's addresses: From line, envelope sender, Message-ID, the unsubscribe mailto.

With ``[bounces] return_path`` set (VERP, see campaignd.rendering.verp), the envelope sender
of each message is ``<return_path local>+<token>@<domain>`` (``sender``) and the
mailto is ``<unsubscribe_mailto local>+<token>@<domain>``: one HMAC per recipient, the rest built
once per campaign. Return-Path is never written (the receiving MTA adds it from MAIL FROM).

The Message-ID is derived from the campaign and subscriber uuids (base32) on
app.message_id_domain, else the From domain: retries of a ledger row keep it.
"""

from __future__ import annotations

import binascii
import uuid

from campaignd.config import AppSettings
from campaignd.domain import Recipient
from campaignd.rendering import mime
from campaignd.rendering.verp import CampaignVerp, VerpCodec

_URLSAFE = bytes.maketrans(b"+/", b"-_")


class CampaignEnvelope:
    """One campaign's From line and addresses, checked once (TemplateError, or InvalidInput for
    a `return_path` that cannot carry a VERP token); the per-recipient parts on demand."""

    def __init__(
        self,
        campaign_uuid: uuid.UUID,
        from_header: tuple[str, str],
        app: AppSettings,
        secret: str,
        campaign_id: int = 0,
        return_path: str = "",
    ) -> None:
        display, self.from_addr = from_header
        self._campaign_bytes = campaign_uuid.bytes
        self.from_line = mime.address("From", display, self.from_addr)
        domain = app.message_id_domain or self.from_addr.rpartition("@")[2]
        self._mid_domain = mime.check_address(f"x@{domain}", "Message-ID domain").rpartition("@")[2]
        mailto = addr = ""
        if app.unsubscribe_mailto:
            addr = mime.parse_mailbox(app.unsubscribe_mailto, "app.unsubscribe_mailto")[1]
            mailto = f",\r\n <mailto:{addr}?subject=unsubscribe>"
        self._unsub_tail = f">{mailto}\r\n"
        self._verp: CampaignVerp | None = None
        self._verp_mailto = False
        if return_path:
            self._verp = VerpCodec(secret).for_campaign(campaign_id, return_path, addr)
            self._verp_mailto = bool(addr)

    def sender(self, recipient: Recipient) -> str:
        """MAIL FROM for one recipient: its VERP address with [bounces] return_path, else From."""
        verp = self._verp
        return self.from_addr if verp is None else verp.bounce_address(recipient.uuid)

    def message_id(self, recipient: Recipient) -> str:
        raw = binascii.b2a_base64(self._campaign_bytes + recipient.uuid.bytes, newline=False)
        return f"<{raw[:43].translate(_URLSAFE).decode('ascii')}@{self._mid_domain}>"

    def mailto_tail(self, subscriber_uuid: uuid.UUID) -> str:
        """The end of the List-Unsubscribe line after the https URL: the mailto, if any."""
        if not self._verp_mailto:
            return self._unsub_tail
        assert self._verp is not None
        mailto = self._verp.unsubscribe_address(subscriber_uuid)
        return f">,\r\n <mailto:{mailto}?subject=unsubscribe>\r\n"
