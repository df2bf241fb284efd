"""slots.Slots: a server's connection slots, taken in turn, a waiting send giving up in time."""

from __future__ import annotations

import asyncio
import random

import pytest

from campaignd.messengers.slots import Slots


async def test_free_slots_are_taken_at_once_then_sends_wait() -> None:
    slots: Slots[None] = Slots(2, timeout=1.0)
    assert await slots.take() and await slots.take()
    assert slots.locked()
    waiting = asyncio.ensure_future(slots.take())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    slots.give_back()
    assert await waiting is True
    assert slots.locked()  # the slot went to the waiter, not back to the pool
    slots.give_back()
    slots.give_back()
    assert not slots.locked()


async def test_waiters_are_served_in_turn() -> None:
    slots: Slots[None] = Slots(1, timeout=1.0)
    await slots.take()
    order: list[int] = []

    async def send(i: int) -> None:
        assert await slots.take()
        order.append(i)
        await asyncio.sleep(0)
        slots.give_back()

    tasks = [asyncio.ensure_future(send(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    slots.give_back()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert not slots.locked()


async def test_each_waiter_gives_up_after_its_own_timeout() -> None:
    slots: Slots[None] = Slots(1, timeout=0.1)
    await slots.take()
    loop = asyncio.get_running_loop()
    started = loop.time()
    ended: dict[str, float] = {}

    async def wait(name: str) -> bool:
        got = await slots.take()
        ended[name] = loop.time() - started
        return got

    first = asyncio.ensure_future(wait("first"))
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(wait("second"))
    assert await first is False
    assert not second.done()  # its own deadline is 0.05 s later
    assert await second is False
    assert 0.09 <= ended["first"] < ended["second"]
    assert ended["second"] >= 0.14
    slots.give_back()  # the one slot taken is still counted once
    assert not slots.locked()


async def test_a_cancelled_waiter_is_skipped() -> None:
    slots: Slots[None] = Slots(1, timeout=1.0)
    await slots.take()
    cancelled = asyncio.ensure_future(slots.take())
    after = asyncio.ensure_future(slots.take())
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await asyncio.sleep(0)
    slots.give_back()
    assert await after is True
    assert cancelled.cancelled()


async def test_a_slot_handed_to_a_send_cancelled_meanwhile_is_passed_on() -> None:
    slots: Slots[None] = Slots(1, timeout=1.0)
    await slots.take()
    handed = asyncio.ensure_future(slots.take())
    after = asyncio.ensure_future(slots.take())
    await asyncio.sleep(0.01)
    slots.give_back()  # to `handed`, which is cancelled before it runs
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert await after is True
    slots.give_back()
    assert not slots.locked()


async def test_never_more_than_size_in_use() -> None:
    slots: Slots[None] = Slots(3, timeout=0.02)
    rng = random.Random(7)
    in_use = peak = 0
    outcomes: list[bool] = []

    async def send() -> None:
        nonlocal in_use, peak
        if not await slots.take():
            outcomes.append(False)
            return
        in_use += 1
        peak = max(peak, in_use)
        await asyncio.sleep(rng.choice((0, 0.001, 0.005, 0.03)))
        in_use -= 1
        outcomes.append(True)
        slots.give_back()

    tasks = [asyncio.ensure_future(send()) for _ in range(200)]
    for task in tasks[::17]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert peak == 3
    assert True in outcomes and False in outcomes  # some waited too long, some got a slot
    assert [await slots.take() for _ in range(3)] == [True] * 3  # every slot came back
    assert slots.locked()
