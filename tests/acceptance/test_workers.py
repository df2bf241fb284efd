"""app.workers = 2: two sending processes share one ledger; every subscriber gets one message.

A message rate keeps the campaign running long enough for the worker to start and take part.
"""

from __future__ import annotations

import contextlib
import re
import signal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.acceptance.helpers import capture_server, free_port, make_env
from tests.acceptance.test_daemon_e2e import seed
from tests.acceptance.test_unsubscribe_e2e import http, wait_for

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


def metric_sum(text: str, sample: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample
    )


def test_the_main_process_metrics_count_what_the_workers_sent(tmp_path: Path) -> None:
    smtp_port, http_port = free_port(), free_port()
    root = f"http://127.0.0.1:{http_port}"
    e = make_env(
        tmp_path, smtp_port, message_rate=100, concurrency=10, batch_size=20, workers=2,
        root_url=root,
    )  # fmt: skip
    e.env.update(
        CAMPAIGND_HTTP__ENABLED="true",
        CAMPAIGND_HTTP__LISTEN=f"127.0.0.1:{http_port}",
        TMPDIR=str(tmp_path),  # where the main process makes the workers' metrics folder
    )
    with capture_server(smtp_port, e.mail):
        campaign_id, _ = seed(e, 200)
        daemon = e.daemon()
        err = ""
        try:
            wait_for(lambda: e.show(campaign_id)["status"] == "finished", 60)
            assert list(tmp_path.glob("campaignd-metrics-*/worker-1.json"))

            def counted() -> float:
                status, text = http(f"{root}/metrics")
                return metric_sum(text, "campaignd_messages_sent_total") if status == 200 else -1

            wait_for(lambda: counted() == 200, 10)  # workers write theirs every second
        finally:
            daemon.send_signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                _, err = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, err
    sent = [int(n) for n in re.findall(r"stopped: sent (\d+)", err)]
    assert len(sent) == 2 and sum(sent) == 200 and min(sent) > 0, err  # both processes sent
    assert not list(tmp_path.glob("campaignd-metrics-*"))  # removed with the workers
