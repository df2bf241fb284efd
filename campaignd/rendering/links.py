"""A campaign's signed links per subscriber: unsubscribe, opt-in, preferences, archive copy.

The signers and the URL prefix are set up once per campaign (CampaignLinks); per subscriber the
unsubscribe URL is signed at once (List-Unsubscribe needs it) and the others only when a
template asks for them (template_data.Links).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from functools import partial

from campaignd.rendering.template_data import Links
from campaignd.rendering.tokens import Signer


class CampaignLinks:
    """One campaign's link signers (InvalidInput without a secret); `links` per subscriber."""

    def __init__(self, campaign_uuid: uuid.UUID, root_url: str, secret: str) -> None:
        self._campaign_uuid = campaign_uuid
        self._campaign_text = str(campaign_uuid)
        self._unsub = Signer(secret, "unsub")
        self._optin = Signer(secret, "optin")
        self._manage = Signer(secret, "manage")
        self._archive = Signer(secret, "archive")
        self._root = root_url

    def unsubscribe_url(self, sub_uuid: uuid.UUID) -> str:
        return f"{self._root}/unsubscribe/{self._unsub.sign(sub_uuid, self._campaign_uuid)}"

    def links(
        self, unsub: str, sub_uuid: uuid.UUID, lists: Sequence[int], now: dt.datetime
    ) -> Links:
        """What templates see of one subscriber's links; `{{ optin_url() }}` confirms `lists`."""
        return Links(
            unsub,
            partial(self._optin_url, sub_uuid, lists),
            now,
            manage=lambda: f"{self._root}/manage/{self._manage.sign(sub_uuid)}",
            archive=lambda: (
                f"{self._root}/archive/{self._campaign_text}/"
                f"{self._archive.sign(sub_uuid, self._campaign_uuid)}"
            ),
        )

    def _optin_url(self, subscriber_uuid: uuid.UUID, list_ids: Sequence[int]) -> str:
        return f"{self._root}/optin/{self._optin.sign_lists(subscriber_uuid, list_ids)}"
