"""The [[domain_limits]] entries: per recipient-domain pacing (rate, in flight, back-off)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from campaignd.addresses import normalize_domain
from campaignd.config.fields import Duration, Frozen
from campaignd.errors import InvalidAddress


class DomainLimitSettings(Frozen):
    """Recipients at any of `domains` share one limit, across every messenger and campaign.

    `max_rate` (messages a second) and `max_in_flight` (messages being sent at once) are each
    optional, but one of them must be set. When one of these domains answers "too fast" or
    "rate limited" (4.2.1, 4.7.28, 421/4.7.x with such words: campaignd.replies), the group
    sends nothing for `backoff` seconds, twice as long at each further such answer up to
    `max_backoff`, and back to `backoff` after a message is accepted. The recipient of that
    answer is deferred to the end of the pause; it is not failed and does not count towards
    app.max_send_errors. Domains are matched exactly (no subdomains), after the lower-casing
    and IDNA decoding that imports apply to addresses.

    `mx` groups by mail exchanger: a recipient domain not listed in any entry whose most
    preferred MX hosts match one of these patterns (an exact host name, or ``*.`` and a suffix:
    ``*.google.com`` matches ``aspmx.l.google.com``) belongs to this entry too. Entries are
    tried in file order. An entry needs `domains`, `mx` or both.
    """

    domains: tuple[str, ...] = ()
    mx: tuple[str, ...] = ()
    max_rate: float | None = Field(default=None, gt=0)
    max_in_flight: int | None = Field(default=None, ge=1)
    backoff: Annotated[Duration, Field(gt=0, le=86400)] = 30.0
    max_backoff: Annotated[Duration, Field(gt=0, le=86400)] = 900.0

    @field_validator("domains", mode="before")
    @classmethod
    def _domains(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError('a list of domains, e.g. domains = ["gmail.com", "googlemail.com"]')
        if not isinstance(value, list | tuple):
            return value
        out: list[str] = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"{item!r} is not a domain name")
            try:
                domain = normalize_domain(item)
            except InvalidAddress as exc:
                raise ValueError(str(exc)) from None
            if domain in out:
                raise ValueError(f"{domain} is listed twice")
            out.append(domain)
        return tuple(out)

    @field_validator("mx", mode="before")
    @classmethod
    def _mx(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError('a list of MX host patterns, e.g. mx = ["*.google.com"]')
        if not isinstance(value, list | tuple):
            return value
        out: list[str] = []
        for item in value:
            pattern = mx_pattern(item)
            if pattern in out:
                raise ValueError(f"{pattern} is listed twice")
            out.append(pattern)
        return tuple(out)

    @model_validator(mode="after")
    def _a_limit(self) -> DomainLimitSettings:
        if not self.domains and not self.mx:
            raise ValueError(
                "a [[domain_limits]] entry lists no domains: give domains = [...] or "
                'mx = [...] (MX host patterns such as "*.google.com"), or both'
            )
        if self.max_rate is None and self.max_in_flight is None:
            raise ValueError(
                f"[[domain_limits]] for {self.label} sets no limit: give max_rate "
                "(messages a second) or max_in_flight (messages at once), or both"
            )
        if self.max_backoff < self.backoff:
            raise ValueError(
                f"[[domain_limits]] for {self.label}: max_backoff ({self.max_backoff:g}s) "
                f"is shorter than backoff ({self.backoff:g}s)"
            )
        return self

    @property
    def label(self) -> str:
        """The group's name in logs and metrics: its first domain (and how many more), or
        its first MX pattern."""
        if not self.domains:
            return f"MX {self.mx[0]}"
        more = len(self.domains) - 1
        return self.domains[0] + (f" (+{more})" if more else "")


_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def mx_pattern(item: Any) -> str:
    """An `mx` pattern, lower-cased and without a trailing dot: a host name in ASCII (MX
    records hold the ``xn--`` form), or ``*.`` and one; ValueError saying why not."""
    if not isinstance(item, str):
        raise ValueError(f"{item!r} is not an MX host pattern")
    pattern = item.strip().lower().rstrip(".")
    host = pattern.removeprefix("*.")
    labels = host.split(".")
    if not host.isascii():
        raise ValueError(f"MX pattern {item!r}: write the host name in ASCII (its xn-- form)")
    if len(host) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(x) for x in labels):
        raise ValueError(
            f"MX pattern {item!r} is not a host name or *. and one "
            '(e.g. "aspmx.l.google.com" or "*.google.com")'
        )
    return pattern


def check_distinct(limits: tuple[DomainLimitSettings, ...]) -> None:
    """A domain belongs to one group: raise ValueError naming one listed in two entries."""
    seen: dict[str, int] = {}
    for index, entry in enumerate(limits):
        for domain in entry.domains:
            if domain in seen:
                raise ValueError(
                    f"{domain} is in entries {seen[domain]} and {index}: "
                    "a domain belongs to one [[domain_limits]] entry"
                )
            seen[domain] = index
    patterns: dict[str, int] = {}
    for index, entry in enumerate(limits):
        for pattern in entry.mx:
            if pattern in patterns:
                raise ValueError(
                    f"MX pattern {pattern} is in entries {patterns[pattern]} and {index}: "
                    "a pattern belongs to one [[domain_limits]] entry"
                )
            patterns[pattern] = index
