"""The duplicate check stays exact when it moves from memory to its temporary file."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from campaignd.importing.seen import SeenAddresses

_BATCHES = st.lists(st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(0, 30), max_size=40))


@settings(max_examples=200, deadline=None)
@given(batches=_BATCHES, limit=st.integers(0, 25))
def test_matches_a_plain_set(batches: list[list[int]], limit: int) -> None:
    seen = SeenAddresses(limit=limit)
    model: set[int] = set()
    try:
        for batch in batches:
            expected = []
            for h in batch:
                expected.append(h not in model)
                model.add(h)
            assert seen.first_time(batch) == expected
    finally:
        seen.close()


def test_spills_past_the_limit_and_keeps_answering() -> None:
    seen = SeenAddresses(limit=1000)
    try:
        assert all(seen.first_time(list(range(1500))))
        assert seen.first_time([5, 1499, 1500, 1500, -1]) == [False, False, True, False, True]
        assert seen.first_time(list(range(1498, 1502))) == [False, False, False, True]
    finally:
        seen.close()


@settings(max_examples=200, deadline=None)
@given(batches=_BATCHES, limit=st.integers(0, 25))
def test_names_the_line_first_met_in_memory_and_on_disk(
    batches: list[list[int]], limit: int
) -> None:
    seen = SeenAddresses(limit=limit)
    model: dict[int, int] = {}
    line = 1
    try:
        for batch in batches:
            lines = list(range(line, line + len(batch)))
            line += len(batch)
            expected = []
            for h, n in zip(batch, lines, strict=True):
                expected.append(model.get(h))
                model.setdefault(h, n)
            assert seen.earlier(batch, lines) == expected
    finally:
        seen.close()
