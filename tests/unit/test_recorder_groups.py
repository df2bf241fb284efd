"""campaignd.sending.recorder: outcomes committed in groups, each slot freed after its commit."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

from campaignd.domain import DeliveryRecord, DeliveryStatus
from campaignd.sending.recorder import Recorder

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Ledger:
    """The part of the Store the recorder uses: every commit is kept as one list."""

    def __init__(self) -> None:
        self.commits: list[list[int]] = []

    async def record_deliveries(self, records: Sequence[DeliveryRecord], now: dt.datetime) -> None:
        self.commits.append([r.ledger_id for r in records])

    async def add_send_errors(self, campaign_id: int, count: int) -> int:
        return count


def record(ledger_id: int) -> DeliveryRecord:
    return DeliveryRecord(ledger_id, DeliveryStatus.SENT, 1, 250, None, "ok", "s", f"<{ledger_id}>")


async def start(
    group: int, linger: float, slots: int = 10
) -> tuple[Recorder, Ledger, asyncio.Semaphore, asyncio.Task[None]]:
    ledger = Ledger()
    sem = asyncio.Semaphore(slots)
    recorder = Recorder(ledger, sem, lambda: NOW, group=group, linger=linger)  # type: ignore[arg-type]
    task = asyncio.create_task(recorder.run())
    return recorder, ledger, sem, task


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def submit(recorder: Recorder, sem: asyncio.Semaphore, ids: range) -> None:
    for i in ids:
        await sem.acquire()  # as the runner does: one slot per message in flight
        recorder.submit(1, record(i))


async def test_a_group_is_written_in_one_commit_once_it_is_full() -> None:
    recorder, ledger, sem, task = await start(group=4, linger=60.0)
    await submit(recorder, sem, range(1, 4))
    await settle()
    assert ledger.commits == []  # three of four: still waiting (the linger is a minute)
    assert recorder.backlog == 3
    await submit(recorder, sem, range(4, 5))
    await settle()
    assert ledger.commits == [[1, 2, 3, 4]]
    assert sem._value == 10
    recorder.close()
    await task


async def test_a_lone_outcome_is_written_after_the_linger() -> None:
    recorder, ledger, sem, task = await start(group=50, linger=0.02)
    await submit(recorder, sem, range(1, 2))
    await settle()
    assert ledger.commits == []
    assert sem._value == 9
    await asyncio.sleep(0.1)
    assert ledger.commits == [[1]]
    assert sem._value == 10
    recorder.close()
    await task


async def test_close_writes_what_waits_at_once() -> None:
    recorder, ledger, sem, task = await start(group=50, linger=60.0)
    await submit(recorder, sem, range(1, 3))
    await settle()
    recorder.close()
    await asyncio.wait_for(task, 1.0)  # not a minute
    assert ledger.commits == [[1, 2]]


async def test_without_a_group_each_wakeup_commits_what_is_there() -> None:
    recorder, ledger, sem, task = await start(group=1, linger=60.0)
    await submit(recorder, sem, range(1, 2))
    await settle()
    assert ledger.commits == [[1]]
    recorder.close()
    await task


async def test_sending_never_waits_on_a_group_larger_than_the_slots_left() -> None:
    # The engine uses a quarter of the slots as the group, so slots remain for sending while
    # a group fills; here, with the group equal to the slots, the last submit completes it.
    recorder, ledger, sem, task = await start(group=5, linger=60.0, slots=5)
    await asyncio.wait_for(submit(recorder, sem, range(1, 11)), 1.0)
    await settle()
    assert ledger.commits == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]
    recorder.close()
    await task
