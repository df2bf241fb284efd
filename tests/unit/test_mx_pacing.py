"""[[domain_limits]] `mx` grouping on the resolver's twin: patterns, the cache (TTL, size, one
look-up per distinct domain), failures, and the engine: a Google Workspace domain shares
gmail.com's limit."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Sequence

import pytest
from pydantic import SecretStr

from campaignd.config import AppSettings, DomainLimitSettings, SecuritySettings, Settings
from campaignd.daemon.service import Daemon
from campaignd.domain import OutcomeKind, Recipient, SendOutcome
from campaignd.messengers.mx import FAILED_TTL, MxAnswer, StaticMxResolver, preferred
from campaignd.messengers.protocol import Sign
from campaignd.messengers.recording import RecordingMessenger
from campaignd.sending.mxgroups import MxGroups, matches
from campaignd.sending.pacing import DomainPacer, PaceGroup
from campaignd.store.memory import MemoryStore
from tests.unit.test_dispatch_pacing import campaign

GOOGLE = {"acme.example": ["aspmx.l.google.com", "alt1.aspmx.l.google.com"]}


def google_limit(**more: object) -> DomainLimitSettings:
    return DomainLimitSettings.model_validate(
        {"domains": ["gmail.com"], "mx": ["*.google.com"], "max_in_flight": 1, **more}
    )


def recipient(email: str) -> Recipient:
    return Recipient(1, 1, 1, uuid.uuid4(), email, "", {}, 0)


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("*.google.com", "aspmx.l.google.com", True),
        ("*.google.com", "google.com", False),
        ("*.google.com", "evilgoogle.com", False),
        ("aspmx.l.google.com", "aspmx.l.google.com", True),
        ("aspmx.l.google.com", "alt1.aspmx.l.google.com", False),
    ],
)
def test_patterns_match_a_host_or_the_hosts_below_a_suffix(
    pattern: str, host: str, expected: bool
) -> None:
    assert matches(pattern, host) is expected


def test_only_the_most_preferred_mx_hosts_count_and_a_null_mx_has_none() -> None:
    records = [(20, "Backup.Example.COM."), (10, "mx2.example.com."), (10, "mx1.example.com.")]
    assert preferred(records) == ("mx1.example.com", "mx2.example.com")
    assert preferred([(0, ".")]) == ()
    assert preferred([]) == ()


async def test_each_distinct_domain_is_looked_up_once_and_kept_for_its_ttl() -> None:
    resolver = StaticMxResolver(GOOGLE, ttl=100.0)
    group = PaceGroup("g", None, 1, 1.0, 1.0)
    groups = MxGroups([(group, ("*.google.com",))], resolver)
    await groups.resolve(["acme.example", "acme.example", "other.example"], now=0.0)
    assert sorted(resolver.asked) == ["acme.example", "other.example"]
    assert groups.group_of("acme.example") is group
    assert groups.group_of("other.example") is None  # no MX records: no group
    await groups.resolve(["acme.example"], now=99.0)
    assert len(resolver.asked) == 2  # still fresh
    await groups.resolve(["acme.example"], now=100.0)
    assert resolver.asked[-1] == "acme.example" and len(resolver.asked) == 3


def test_a_long_ttl_is_capped_and_the_cache_forgets_the_oldest_when_full() -> None:
    group = PaceGroup("g", None, 1, 1.0, 1.0)
    groups = MxGroups([(group, ("*.google.com",))], StaticMxResolver({}), size=2, max_ttl=60.0)
    answer = MxAnswer(("aspmx.l.google.com",), 86400.0)
    groups.learn("a.example", answer, now=0.0)
    assert groups.stale(["a.example"], now=59.0) == []
    assert groups.stale(["a.example"], now=60.0) == ["a.example"]
    groups.learn("b.example", answer, now=0.0)
    groups.learn("c.example", answer, now=0.0)
    assert len(groups) == 2
    assert groups.group_of("a.example") is None
    assert groups.group_of("c.example") is group


def test_the_first_entry_in_file_order_wins() -> None:
    first, second = PaceGroup("1", None, 1, 1.0, 1.0), PaceGroup("2", None, 1, 1.0, 1.0)
    groups = MxGroups(
        [(first, ("aspmx.l.google.com",)), (second, ("*.google.com",))], StaticMxResolver({})
    )
    assert groups.match(["aspmx.l.google.com"]) is first
    assert groups.match(["alt1.aspmx.l.google.com"]) is second
    assert groups.match(["mx.example.net"]) is None


async def test_the_pacer_groups_by_mx_after_prepare_and_never_looks_up_listed_domains() -> None:
    resolver = StaticMxResolver(GOOGLE, failing=frozenset({"down.example"}))
    pacer = DomainPacer([google_limit()], resolver)
    (google,) = pacer.groups
    batch = [recipient(e) for e in ("a@gmail.com", "b@ACME.example", "c@down.example")]
    assert pacer.group_of("b@acme.example") is None  # not looked up yet
    await pacer.prepare(batch, now=0.0)
    assert sorted(resolver.asked) == ["acme.example", "down.example"]
    assert pacer.group_of("a@gmail.com") is google
    assert pacer.group_of("b@acme.example") is google
    assert pacer.group_of("c@down.example") is None  # failed: ungrouped, asked again later
    await pacer.prepare(batch, now=FAILED_TTL - 1)
    assert len(resolver.asked) == 2
    await pacer.prepare(batch, now=FAILED_TTL)
    assert resolver.asked[-1] == "down.example"


def test_mx_patterns_without_a_resolver_are_a_wiring_error() -> None:
    with pytest.raises(ValueError, match="need an MX resolver"):
        DomainPacer([google_limit()])
    assert DomainPacer([google_limit()], StaticMxResolver({})).mx is not None
    plain = DomainLimitSettings.model_validate({"domains": ["a.example"], "max_rate": 1})
    assert DomainPacer([plain]).mx is None


class GoogleSink(RecordingMessenger):
    """Sends take 30 ms; notes the peak of messages at once to Google-hosted domains."""

    def __init__(self) -> None:
        super().__init__()
        self.google_now = 0
        self.google_peak = 0
        self.ended: list[tuple[float, str]] = []

    async def send(
        self, sender: str, recipients: Sequence[str], message: bytes, sign: Sign | None = None
    ) -> SendOutcome:
        google = recipients[0].endswith(("@gmail.com", "@acme.example"))
        self.google_now += google
        self.google_peak = max(self.google_peak, self.google_now)
        try:
            await asyncio.sleep(0.03 if google else 0.0)
        finally:
            self.google_now -= google
        self.script([SendOutcome(OutcomeKind.SENT, code=250, text="ok")])
        result = await super().send(sender, recipients, message, sign)
        self.ended.append((time.monotonic(), recipients[0]))
        return result


async def test_a_workspace_domain_shares_gmails_limit_through_the_daemon() -> None:
    store, sink = MemoryStore(), GoogleSink()
    emails = [f"g{i}@gmail.com" for i in range(3)] + [f"w{i}@acme.example" for i in range(3)]
    emails += [f"o{i}@other{i % 3}.example" for i in range(30)]
    await campaign(store, "news", emails)
    resolver = StaticMxResolver(GOOGLE)
    config = Settings(
        app=AppSettings(message_rate=0, poll_interval=0.02, concurrency=5, batch_size=50),
        security=SecuritySettings(secret=SecretStr("m" * 32)),
        domain_limits=(google_limit(),),
    )
    daemon = Daemon(
        config,
        until_idle=True,
        store=store,
        messengers=lambda _s: {"email": sink},
        mx_resolver=resolver,
    )
    assert await daemon.run() == 0

    assert Counter(r for s in sink.sent for r in s.recipients) == Counter(emails)
    assert sink.google_peak == 1  # gmail.com and acme.example: one at a time, together
    # One look-up per distinct unlisted domain, none for gmail.com.
    assert sorted(resolver.asked) == sorted(
        {"acme.example", *(f"other{i}.example" for i in range(3))}
    )
    google = sorted(t for t, r in sink.ended if r.endswith(("@gmail.com", "@acme.example")))
    others = [t for t, r in sink.ended if "@other" in r]
    assert max(others) < google[2]  # the others did not wait for the Google group
