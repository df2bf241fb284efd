"""app.workers: every daemon-wide limit is split among the processes, and adds up again."""

from __future__ import annotations

import pytest

from campaignd.config import AppSettings, HttpSettings, InboundSettings, Settings, SmtpSettings
from campaignd.daemon.workers import share


def _settings() -> Settings:
    return Settings(
        app=AppSettings(
            instance_id="box",
            concurrency=101,
            message_rate=50.0,
            sliding_window=True,
            sliding_window_rate=7,
            workers=3,
        ),
        http=HttpSettings(enabled=True),
        inbound=InboundSettings(enabled=True),
        api={"enabled": True, "listen": "127.0.0.1:9100"},
        smtp=(
            SmtpSettings(host="a", max_conns=10, max_rate=9.0),
            SmtpSettings(host="b", max_conns=2),
        ),
        domain_limits=(
            {"domains": ["gmail.com"], "max_rate": 12.0, "max_in_flight": 10},
            {"domains": ["yahoo.com"], "max_in_flight": 2},
        ),
    )


def test_one_worker_keeps_the_settings() -> None:
    settings = _settings()
    assert share(settings, 0, 1) is settings


@pytest.mark.parametrize("count", [2, 3, 4])
def test_shares_add_up_to_the_daemon_wide_limits(count: int) -> None:
    settings = _settings()
    parts = [share(settings, i, count) for i in range(count)]
    assert sum(p.app.concurrency for p in parts) == 101
    assert sum(p.app.message_rate for p in parts) == pytest.approx(50.0)
    assert sum(p.app.sliding_window_rate for p in parts) == max(7, count)
    assert sum(p.smtp[0].max_conns for p in parts) == 10
    assert sum(p.smtp[0].max_rate for p in parts) == pytest.approx(9.0)
    # A server with fewer connections than workers still gets one per worker.
    assert [p.smtp[1].max_conns for p in parts] == [1] * count if count > 2 else [1, 1]
    # [[domain_limits]] are daemon-wide too: split, never below one message in flight.
    assert sum(p.domain_limits[0].max_rate or 0 for p in parts) == pytest.approx(12.0)
    assert sum(p.domain_limits[0].max_in_flight or 0 for p in parts) == 10
    assert [p.domain_limits[1].max_in_flight for p in parts] == [1] * count
    assert all(p.domain_limits[1].max_rate is None for p in parts)


def test_owner_ids_and_http_and_inbound_only_on_the_main_process() -> None:
    settings = _settings()
    parts = [share(settings, i, 3) for i in range(3)]
    assert [p.app.instance_id for p in parts] == ["box", "box/w1", "box/w2"]
    assert [p.http.enabled for p in parts] == [True, False, False]
    assert [p.inbound.enabled for p in parts] == [True, False, False]
    assert [p.api.enabled for p in parts] == [True, False, False]  # one API listener
    assert all(p.smtp[0].host == "a" and p.db == settings.db for p in parts)
