"""Per-domain pacing, pure: groups by domain, rate, in flight, back-off; on a fake clock."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest

from campaignd.config import DomainLimitSettings
from campaignd.domain import Recipient
from campaignd.sending.pacing import DomainPacer, PaceGroup
from campaignd.sending.waiting import Waiting


def limit(*domains: str, **keys: Any) -> DomainLimitSettings:
    return DomainLimitSettings(domains=domains, **keys)


def group(**keys: Any) -> PaceGroup:
    return PaceGroup.of(limit("gmail.com", **keys))


def recipient(n: int, email: str) -> Recipient:
    return Recipient(n, 1, n, uuid.uuid4(), email, "", {}, 0)


def test_domains_of_one_entry_share_a_group_and_others_have_none() -> None:
    pacer = DomainPacer(
        [limit("gmail.com", "googlemail.com", max_rate=5), limit("yahoo.com", max_in_flight=2)]
    )
    gmail = pacer.group_of("a@gmail.com")
    assert gmail is not None and gmail is pacer.group_of("b@GoogleMail.com")
    assert pacer.group_of("c@yahoo.com") is not gmail
    assert pacer.group_of("d@mail.gmail.com") is None  # exact domains, no subdomains
    assert pacer.group_of("e@example.com") is None
    assert gmail.label == "gmail.com (+1)"


def test_an_idna_domain_in_the_settings_matches_the_stored_unicode_form() -> None:
    pacer = DomainPacer([limit("xn--bcher-kva.example", max_rate=1)])
    assert pacer.group_of("a@bücher.example") is not None


def test_rate_is_held_over_a_long_run_with_at_most_a_one_message_burst() -> None:
    g = group(max_rate=10.0)
    now, starts = 0.0, []
    while now < 100.0:  # poll every millisecond for 100 s
        while g.take(now):
            starts.append(now)
            g.done(now, sent=True, throttled=False)
        now += 0.001
    assert len(starts) == pytest.approx(1000, abs=2)
    # No second holds more than the rate plus the bucket's small burst.
    for t in range(99):
        assert sum(1 for s in starts if t <= s < t + 1) <= 11


def test_wait_says_how_long_until_the_next_token() -> None:
    g = group(max_rate=4.0)
    assert g.take(0.0)
    assert g.wait(0.0) == pytest.approx(0.25 - 0.04 / 4, abs=0.01)
    assert not g.take(0.1)
    assert g.take(0.25)


def test_in_flight_limit_frees_a_place_when_a_message_ends() -> None:
    g = group(max_in_flight=2)
    assert g.take(0.0) and g.take(0.0)
    assert not g.take(0.0)
    assert g.wait(0.0) == math.inf  # only a message ending can free it
    g.done(0.5, sent=True, throttled=False)
    assert g.take(0.5)


def test_too_fast_pauses_doubles_up_to_max_and_a_success_after_resets() -> None:
    g = group(max_in_flight=10, backoff=30, max_backoff=100)
    assert g.take(0.0) and g.take(0.0)
    first = g.done(1.0, sent=False, throttled=True)
    assert first is not None and first.fresh and first.until == 31.0
    # A second "too fast" from a message already in flight does not double the pause.
    again = g.done(2.0, sent=False, throttled=True)
    assert again is not None and not again.fresh and again.until == 31.0
    assert not g.take(30.9)
    assert g.wait(30.0) == pytest.approx(1.0)
    assert g.take(31.0)
    second = g.done(32.0, sent=False, throttled=True)
    assert second is not None and second.seconds == 60
    assert g.take(92.0)
    third = g.done(93.0, sent=False, throttled=True)
    assert third is not None and third.seconds == 100  # capped at max_backoff
    assert g.take(193.0)
    assert g.done(194.0, sent=True, throttled=False) is None
    assert g.take(194.0)
    fourth = g.done(195.0, sent=False, throttled=True)
    assert fourth is not None and fourth.seconds == 30  # reset by the accepted message
    assert g.throttles == 4


def test_a_success_during_the_pause_does_not_reset_the_back_off() -> None:
    g = group(max_in_flight=5, backoff=10, max_backoff=1000)
    assert g.take(0.0) and g.take(0.0)
    g.done(1.0, sent=False, throttled=True)  # paused until 11
    g.done(2.0, sent=True, throttled=False)  # sent before the pause began
    assert g.take(11.0)
    pause = g.done(12.0, sent=False, throttled=True)
    assert pause is not None and pause.seconds == 20


def test_after_a_pause_the_group_restarts_with_one_message_not_a_burst() -> None:
    g = group(max_rate=100.0, backoff=5)
    assert g.take(0.0)
    g.done(0.0, sent=False, throttled=True)
    assert g.take(5.0)
    assert not g.take(5.0)


def test_other_failures_free_the_place_without_pausing() -> None:
    g = group(max_in_flight=1)
    assert g.take(0.0)
    assert g.done(0.0, sent=False, throttled=False) is None
    assert g.take(0.0)


def test_waiting_sets_aside_a_saturated_group_and_sends_the_other_domains() -> None:
    pacer = DomainPacer([limit("slow.example", max_in_flight=1)])
    waiting = Waiting(pacer, bound=100)
    batch = iter(
        [
            recipient(1, "a@slow.example"),
            recipient(2, "b@slow.example"),
            recipient(3, "c@fast.example"),
            recipient(4, "d@slow.example"),
            recipient(5, "e@fast.example"),
        ]
    )
    sent = []
    while (picked := waiting.pick(batch, 0.0)) is not None:
        sent.append(picked[0].ledger_id)
    assert sent == [1, 3, 5]  # 2 and 4 wait for slow.example: nobody waits behind them
    assert waiting.count == 2 and waiting.room() == 98
    assert waiting.ready_in(0.0) == math.inf
    slow = pacer.group_of("a@slow.example")
    assert slow is not None
    slow.done(1.0, sent=True, throttled=False)
    more = iter([recipient(6, "f@slow.example")])
    picked = waiting.pick(more, 1.0)
    assert picked is not None and picked[0].ledger_id == 2  # claim order within a group
    assert waiting.pick(more, 1.0) is None
    assert waiting.count == 2  # 4 and 6
    assert waiting.clear() == 2 and waiting.count == 0


def test_waiting_room_leaves_space_for_a_batch_in_progress() -> None:
    waiting = Waiting(DomainPacer([limit("x.example", max_rate=1)]), bound=10)
    assert waiting.room() == 10
    assert waiting.room(pending=7) == 3
    assert waiting.room(pending=20) == 0
