"""What campaign templates see: the subscriber, the campaign, their attributes, the link and
date functions, and the sample subscriber used for checks and previews."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import pass_context
from jinja2.runtime import Context

from campaignd.errors import TemplateError
from campaignd.rendering.sample import sample_attributes
from campaignd.rendering.sandbox import format_date


class Links:
    """Per-recipient link and clock data behind unsubscribe_url(), optin_url(), manage_url(),
    archive_url() and date(); the signed links are made only when a template asks for them."""

    __slots__ = ("_archive", "_manage", "_optin", "now", "unsubscribe")

    def __init__(
        self,
        unsubscribe: str,
        optin: Callable[[], str],
        now: dt.datetime,
        manage: Callable[[], str] = lambda: SAMPLE_ROOT + "/manage/sample",
        archive: Callable[[], str] = lambda: SAMPLE_ROOT + "/archive/sample",
    ) -> None:
        self.unsubscribe = unsubscribe
        self._optin = optin
        self._manage = manage
        self._archive = archive
        self.now = now

    def optin(self) -> str:
        return self._optin()

    def manage(self) -> str:
        return self._manage()

    def archive(self) -> str:
        return self._archive()


#: Where the sample subscriber's links point (never a real page).
SAMPLE_ROOT = "https://example.invalid"


@dataclass(frozen=True, slots=True)
class SubscriberData:
    email: str
    name: str
    uuid: str
    attributes: Mapping[str, Any]
    _links: Links
    first_name: str = field(init=False)
    last_name: str = field(init=False)

    def __post_init__(self) -> None:
        words = self.name.split()
        object.__setattr__(self, "first_name", words[0] if words else "")
        object.__setattr__(self, "last_name", words[-1] if len(words) > 1 else "")


class MissingAttribute(jinja2.StrictUndefined):
    """An attribute this subscriber does not have: false in `{% if %}`, empty in loops, equal
    to nothing, accepted by `default()` and `is defined`, but an error when printed."""

    __slots__ = ()

    def __bool__(self) -> bool:  # type: ignore[override]
        return False

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        return iter(())

    def __len__(self) -> int:  # type: ignore[override]
        return 0

    def __contains__(self, item: object) -> bool:  # type: ignore[override]
        return False

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return isinstance(other, jinja2.Undefined)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    def __hash__(self) -> int:  # type: ignore[override]
        return id(type(self))


class BlankAttribute(MissingAttribute):
    """A missing attribute under app.missing_attributes = "blank" (listmonk's behaviour): it
    prints as empty text, and ``.x``/``["x"]`` on it give itself, so ``.address.city`` does
    too. Arithmetic on it is still an error."""

    __slots__ = ()

    def __str__(self) -> str:  # type: ignore[override]
        return ""

    def __html__(self) -> str:
        return ""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self


class Attributes(dict[str, Any]):
    """A subscriber's attributes; a key this subscriber lacks gives a MissingAttribute, so
    `{% if subscriber.attributes.city %}` works for everyone, and printing it fails the
    message naming the attribute (app.missing_attributes = "fail")."""

    __slots__ = ()

    def __missing__(self, key: str) -> MissingAttribute:
        return MissingAttribute(hint=f"this subscriber has no attribute {key!r}")


class BlankAttributes(Attributes):
    """Attributes under app.missing_attributes = "blank": a key this subscriber lacks prints
    as empty text."""

    __slots__ = ()

    def __missing__(self, key: str) -> MissingAttribute:
        return BlankAttribute(hint=f"this subscriber has no attribute {key!r}")


@dataclass(frozen=True, slots=True)
class CampaignData:
    name: str
    subject: str
    uuid: str
    tags: tuple[str, ...]


def _links(ctx: Context) -> Links:
    links = getattr(ctx.parent.get("subscriber"), "_links", None)
    if not isinstance(links, Links):
        raise TemplateError("no subscriber to build a link for")
    return links


@pass_context
def unsubscribe_url(ctx: Context) -> str:
    return _links(ctx).unsubscribe


@pass_context
def optin_url(ctx: Context) -> str:
    return _links(ctx).optin()


@pass_context
def manage_url(ctx: Context) -> str:
    return _links(ctx).manage()


@pass_context
def archive_url(ctx: Context) -> str:
    return _links(ctx).archive()


@pass_context
def date(ctx: Context, fmt: str = "%Y-%m-%d") -> str:
    return format_date(_links(ctx).now, fmt)


@pass_context
def with_subject(ctx: Context, campaign: CampaignData, subject: str) -> CampaignData:
    """`campaign` with the subject as rendered for this subscriber (plain text, not Markup:
    an HTML part escapes it like any other data)."""
    return CampaignData(campaign.name, str(subject), campaign.uuid, campaign.tags)


def sample_subscriber(email: str = "subscriber@example.com", name: str = "Sam Sample") -> Any:
    """Subscriber data for checks and previews: any attribute exists and has a placeholder."""
    now = dt.datetime.now(dt.UTC)
    sample_uuid = str(uuid.UUID(int=0))
    links = Links(SAMPLE_ROOT + "/unsubscribe/sample", lambda: SAMPLE_ROOT + "/optin/sample", now)
    return SubscriberData(email, name, sample_uuid, sample_attributes(), links)
