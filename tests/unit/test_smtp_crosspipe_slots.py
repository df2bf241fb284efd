"""slots.Slots.adopt: a connection takes the longest waiting send out of the wait, in turn."""

from __future__ import annotations

import asyncio

from campaignd.messengers.slots import Slots


async def _waiting(slots: Slots[str], ticket: str | None) -> asyncio.Task[bool]:
    task = asyncio.ensure_future(slots.take(ticket))
    await asyncio.sleep(0)
    return task


async def test_nothing_to_adopt_without_a_waiting_send() -> None:
    slots: Slots[str] = Slots(1, timeout=1.0)
    assert slots.adopt(lambda t: True) is None
    assert await slots.take("a")
    assert slots.adopt(lambda t: True) is None  # took a free slot: never waited


async def test_the_longest_waiting_send_is_adopted_if_it_fits() -> None:
    slots: Slots[str] = Slots(1, timeout=1.0)
    await slots.take()
    first = await _waiting(slots, "first")
    second = await _waiting(slots, "second")
    assert slots.adopt(lambda t: t == "second") is None  # only the head, in turn
    found = slots.adopt(lambda t: t == "first")
    assert found is not None
    ticket, future = found
    assert ticket == "first"
    slots.give_back()  # the adopter's own slot goes on to the next in line...
    assert await second is True
    future.set_result(True)  # ...and the adopted send gets the adopter's hand-over
    assert await first is True


async def test_an_adopted_send_no_longer_times_out() -> None:
    slots: Slots[str] = Slots(1, timeout=0.05)
    await slots.take()
    adopted = await _waiting(slots, "a")
    later = await _waiting(slots, "b")
    found = slots.adopt(lambda t: True)
    assert found is not None
    await asyncio.sleep(0.15)
    assert not adopted.done()
    assert later.done() and later.result() is False  # the one left in the wait gave up
    found[1].set_result(True)
    assert await adopted is True


async def test_cancelled_and_ticketless_waiters() -> None:
    slots: Slots[str] = Slots(1, timeout=1.0)
    await slots.take()
    gone = await _waiting(slots, "gone")
    bare = await _waiting(slots, None)
    gone.cancel()
    await asyncio.sleep(0)
    assert slots.adopt(lambda t: True) is None  # skips the cancelled one; no ticket: no
    slots.give_back()
    assert await bare is True
    slots.give_back()
    assert not slots.locked()
