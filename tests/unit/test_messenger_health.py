"""Server back-off: set aside after a connection failure, one probe after the back-off."""

from __future__ import annotations

from campaignd.messengers.health import Health


def test_a_healthy_server_is_always_admitted() -> None:
    h = Health()
    assert all(h.admit(now) for now in (0.0, 0.0, 1.0))


def test_backoff_doubles_up_to_the_cap() -> None:
    h = Health(base=1.0, cap=5.0)
    delays = []
    now = 0.0
    for _ in range(5):
        delay = h.failed(now, "refused")
        assert delay is not None
        delays.append(delay)
        now += delay
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_set_aside_until_the_backoff_ends_then_one_probe() -> None:
    h = Health(base=10.0)
    h.failed(100.0, "refused")
    assert not h.admit(105.0)
    assert h.admit(110.0)  # the probe
    assert not h.admit(110.0)  # only one at a time
    h.release()
    assert h.admit(110.0)


def test_concurrent_failures_count_once() -> None:
    h = Health(base=1.0)
    assert h.failed(0.0, "refused") == 1.0
    assert h.failed(0.5, "refused") is None
    assert h.failures == 1


def test_success_clears_everything() -> None:
    h = Health()
    h.failed(0.0, "auth")
    assert h.down
    assert h.succeeded() == 1
    assert not h.down
    assert h.admit(0.0)
    assert h.reason == ""


def test_remembers_a_refusal_of_our_credentials_until_success() -> None:
    h = Health(base=1.0, cap=60.0)
    h.failed(0.0, "535 5.7.8 authentication failed", auth_failed=True)
    assert h.down and h.auth_failed
    h.failed(5.0, "connection refused")  # a later failure of another kind replaces it
    assert not h.auth_failed
    h.failed(20.0, "535 again", auth_failed=True)
    h.succeeded()
    assert not h.auth_failed and not h.down
