"""app.workers = 2: two sending processes share one ledger; every subscriber gets one message.

A message rate keeps the campaign running long enough for the worker to start and take part.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.acceptance.helpers import capture_server, free_port, make_env
from tests.acceptance.test_daemon_e2e import seed

pytestmark = pytest.mark.slow


def test_two_workers_send_each_message_once_and_both_send(tmp_path: Path) -> None:
    port = free_port()
    e = make_env(tmp_path, port, message_rate=100, concurrency=10, batch_size=20, workers=2)
    with capture_server(port, e.mail):
        campaign_id, eligible = seed(e, 300)
        result = e.cli("run", "--until-idle")
        got = e.received()
    assert set(got) == eligible
    assert max(got.values()) == 1
    shown = e.show(campaign_id)
    assert shown["status"] == "finished"
    assert (shown["to_send"], shown["sent"], shown["failed"], shown["in_flight"]) == (
        300,
        300,
        0,
        0,
    )
    assert re.search(r"running as \S+/w1 \(concurrency 5,", result.stderr)
    sent = [int(n) for n in re.findall(r"stopped: sent (\d+)", result.stderr)]
    assert len(sent) == 2 and sum(sent) == 300 and min(sent) > 0, result.stderr
