"""A campaign's header lines: its own headers checked once and built per message, and the Date.

Campaign headers are templates rendered per subscriber. Their names must be field names and
must not be one of the headers compose owns (``OWNED_HEADERS``: From, To, Cc, Bcc, Subject,
Date, Message-ID, MIME-Version, Content-*, List-Unsubscribe*, X-Campaignd-Id, Return-Path):
overriding those would break the message's structure, its unsubscribe guarantee or its
recipients. Operator-given values with a line break or control character are refused with
HeaderInjection naming the header; rendered values are sanitized (see mime). In address headers
(Reply-To, Sender...) the addresses are literal and only display names are rendered
(campaignd.rendering.address_headers). A line whose value everyone shares is built once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from email.utils import format_datetime
from functools import partial

from campaignd.errors import HeaderInjection
from campaignd.rendering import address_headers, mime

OWNED_HEADERS = frozenset(
    {
        "from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version",
        "list-unsubscribe", "list-unsubscribe-post", "x-campaignd-id", "return-path",
    }
)  # fmt: skip


def check_headers(headers: tuple[tuple[str, str], ...]) -> None:
    for name, value in headers:
        mime.check_header_name(name)
        lowered = name.lower()
        if lowered in OWNED_HEADERS or lowered.startswith("content-"):
            raise HeaderInjection(f"header {name}: campaignd sets this header itself")
        mime.check_header_value(name, value)


def render_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The header templates as the renderer renders them: an address header (Reply-To...)
    becomes its display names only (rendering.address_headers); HeaderInjection if it cannot."""
    return tuple(
        (name, address_headers.render_source(address_headers.parse(name, value)))
        if address_headers.is_address_header(name)
        else (name, value)
        for name, value in headers
    )


def _address_line(mailboxes: tuple[address_headers.Mailbox, ...], name: str, value: str) -> str:
    names = address_headers.displays(name, value, len(mailboxes))
    return mime.mailbox_list(name, [(d, m.address) for d, m in zip(names, mailboxes, strict=True)])


class CampaignHeaderLines:
    """The Date, Subject and campaign header lines of one campaign's messages, each kept while
    its value repeats (the Date within one second, a value shared by every subscriber)."""

    def __init__(self, headers: tuple[tuple[str, str], ...]) -> None:
        self._kinds: list[Callable[[str, str], str]] = [
            partial(_address_line, address_headers.parse(name, value))
            if address_headers.is_address_header(name)
            else mime.unstructured
            for name, value in headers
        ]
        self._names = [name for name, _ in headers]
        self._cache: dict[tuple[int, str], str] = {}
        self._date: tuple[int, str] = (-1, "")

    def date_line(self, now: dt.datetime) -> str:
        second = int(now.timestamp())
        if self._date[0] != second:
            stamp = now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)
            self._date = (second, f"Date: {format_datetime(stamp.replace(microsecond=0))}\r\n")
        return self._date[1]

    def subject_line(self, subject: str) -> str:
        return self._cached(-1, mime.unstructured, "Subject", subject)

    def add_campaign_lines(self, lines: list[str], values: Sequence[str]) -> None:
        """Append the campaign's own header lines, `values` rendered in the campaign's order."""
        for i, value in enumerate(values):
            lines.append(self._cached(i, self._kinds[i], self._names[i], value))

    def _cached(self, slot: int, make: Callable[[str, str], str], name: str, value: str) -> str:
        """A header line; personalised values miss, a value shared by everyone is built once."""
        line = self._cache.get((slot, value))
        if line is None:
            line = make(name, value)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[(slot, value)] = line
        return line
