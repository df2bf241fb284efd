"""campaignd.http.shared_metrics: the main process's /metrics adds its workers' samples."""

from __future__ import annotations

import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from campaignd.domain import (
    CampaignStatus,
    DeliveryRecord,
    DeliveryStatus,
    OutcomeKind,
    Recipient,
    SendEvent,
    SendOutcome,
)
from campaignd.http.metrics import Metrics
from campaignd.http.shared_metrics import read_snapshots, write_snapshot

WHO = Recipient(1, 1, 1, uuid.uuid4(), "a@example.com", "A", {}, 0)


def send(metrics: Metrics, server: str, status: DeliveryStatus, seconds: float = 0.01) -> None:
    kind = OutcomeKind.SENT if status is DeliveryStatus.SENT else OutcomeKind.PERMANENT
    outcome = SendOutcome(kind, server=server, code=250 if kind is OutcomeKind.SENT else 550)
    record = DeliveryRecord(1, status, 1, outcome.code, None, "", server, "<m@x>")
    metrics.observe(SendEvent(1, "email", WHO, outcome, record, seconds))


def values(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def sent(server: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("campaignd_messages_sent_total", (("messenger", "email"), ("server", server)))


def test_counters_histograms_and_worker_only_series_add_up(tmp_path: Path) -> None:
    main, worker = Metrics(), Metrics()
    for _ in range(3):
        send(main, "smtp-a", DeliveryStatus.SENT)
    for _ in range(2):
        send(worker, "smtp-a", DeliveryStatus.SENT)
    send(worker, "smtp-b", DeliveryStatus.SENT, seconds=2.0)  # a series the main never had
    send(worker, "smtp-a", DeliveryStatus.FAILED)
    main.set_campaigns([CampaignStatus.RUNNING])
    worker.set_campaigns([CampaignStatus.FINISHED] * 5)  # stale in a worker: never added
    write_snapshot(tmp_path / "worker-1.json", worker.registry)

    alone = values(main.render())
    assert alone[sent("smtp-a")] == 3
    main.workers_dir = tmp_path
    merged = values(main.render())
    assert merged[sent("smtp-a")] == 5
    assert merged[sent("smtp-b")] == 1
    failed = ("messenger", "email"), ("server", "smtp-a"), ("status", "failed")
    assert merged[("campaignd_messages_failed_total", failed)] == 1
    count = ("campaignd_send_duration_seconds_count", (("messenger", "email"),))
    assert merged[count] == 7
    slow = ("campaignd_send_duration_seconds_bucket", (("le", "1.0"), ("messenger", "email")))
    assert merged[slow] == 6  # the 2-second send is above the 1 s bucket
    assert merged[("campaignd_campaigns", (("status", "running"),))] == 1
    assert merged[("campaignd_campaigns", (("status", "finished"),))] == 0
    created = ("campaignd_messages_sent_created", (("messenger", "email"), ("server", "smtp-a")))
    assert merged[created] == alone[created]  # a timestamp, not summed


def test_two_workers_sum_and_a_broken_file_is_left_out(tmp_path: Path) -> None:
    main = Metrics()
    main.workers_dir = tmp_path
    for index, count in ((1, 4), (2, 6)):
        worker = Metrics()
        for _ in range(count):
            send(worker, "smtp-a", DeliveryStatus.SENT)
        write_snapshot(tmp_path / f"worker-{index}.json", worker.registry)
    (tmp_path / "worker-3.json").write_text("[[not json", encoding="utf-8")
    (tmp_path / "worker-4.json").write_text('{"a": 1}', encoding="utf-8")
    assert values(main.render())[sent("smtp-a")] == 10
    assert not list(tmp_path.glob(".*.tmp"))  # snapshots are renamed into place


def test_an_empty_folder_changes_nothing(tmp_path: Path) -> None:
    main = Metrics()
    send(main, "smtp-a", DeliveryStatus.SENT)
    before = values(main.render())
    main.workers_dir = tmp_path
    assert read_snapshots(tmp_path) == {}
    after = values(main.render())
    assert after[sent("smtp-a")] == before[sent("smtp-a")] == 1
