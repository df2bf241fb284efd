"""The PostgreSQL import's guess that a batch is all new (a plain INSERT, no ON CONFLICT)."""

from __future__ import annotations

from campaignd.db.postgres.copysql import FreshGuess


def _run(batches: list[bool]) -> tuple[list[bool], int]:
    """Feed batches (all new or not) through a guess: what it tried, and how often wrongly."""
    guess = FreshGuess()
    tried = []
    for all_new in batches:
        plain = guess.plain()
        tried.append(plain)
        guess.record(plain, all_new)
    return tried, guess.wrong


def test_a_file_of_new_subscribers_is_inserted_plainly_throughout() -> None:
    assert _run([True] * 50) == ([True] * 50, 0)


def test_a_reimport_of_existing_subscribers_guesses_wrong_once() -> None:
    tried, wrong = _run([False] * 50)
    assert (tried[0], any(tried[1:]), wrong) == (True, False, 1)


def test_after_the_kth_wrong_guess_it_waits_for_2_to_the_k_new_batches() -> None:
    # wrong at 0; then 2 new batches careful, try at 3 (wrong again); 4 new careful, try at 8
    batches = [False, True, True, False, True, True, True, True, True, True]
    tried, wrong = _run(batches)
    assert [i for i, t in enumerate(tried) if t] == [0, 3, 8, 9]
    assert wrong == 2


def test_batches_meeting_existing_subscribers_do_not_count_towards_the_wait() -> None:
    tried, _ = _run([False, False, False, True, True, True])
    assert [i for i, t in enumerate(tried) if t] == [0, 5]
