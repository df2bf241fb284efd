"""Hostile values where user input enters: times out of range in UTC, attributes no store or
JSON output can hold (NaN, Infinity, NUL, lone surrogates), JSON objects with a key twice."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from campaignd.cli.campaign_input import parse_when
from campaignd.domain import (
    NewSubscriber,
    SubscriptionStatus,
    as_utc,
    check_attributes,
    strict_loads,
)
from campaignd.errors import InvalidInput
from campaignd.filters.parse import parse
from campaignd.importing.csvrows import parse_attributes
from campaignd.importing.csvsource import parse_encoding
from campaignd.store.memory import MemoryStore
from campaignd.subscribers import manage, membership

UTC = dt.UTC
# Valid ISO-8601 times whose UTC instant lies outside the years 1-9999 (or at their very edge).
OUT_OF_RANGE = [
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T12:00:00-23:59",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59.999999+00:00",
]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_as_utc_names_the_field_for_times_out_of_range(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"send_at .* out of range") as caught:
        as_utc(dt.datetime.fromisoformat(text), "send_at")
    assert caught.value.field == "send_at"


def test_as_utc_converts_and_takes_a_naive_time_as_utc() -> None:
    when = dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert as_utc(when, "x") == dt.datetime(2026, 3, 1, 7, tzinfo=UTC)
    assert as_utc(dt.datetime(2026, 3, 1, 9), "x") == dt.datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_cli_send_at_out_of_range_is_named(text: str) -> None:
    with pytest.raises(InvalidInput, match="--send-at"):
        parse_when(text)


@pytest.mark.parametrize("text", ["0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z"])
def test_cli_send_at_outside_years_1_9999_is_not_iso(text: str) -> None:
    with pytest.raises(InvalidInput, match="not an ISO-8601 time"):
        parse_when(text)


@pytest.mark.parametrize(
    "query",
    [
        *(f"created > '{t}'" for t in OUT_OF_RANGE),
        "created < '9999-12-31'",
        "created = '9999-12-31'",
        "created >= '0001-01-01'",
    ],
)
def test_filter_times_out_of_range_are_refused_with_the_column(query: str) -> None:
    with pytest.raises(InvalidInput, match=r"column 1[12]: created .* out of range"):
        parse(query)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"n": math.nan}, "attributes.n is nan"),
        ({"n": math.inf}, "attributes.n is inf"),
        ({"a": [1, {"b": -math.inf}]}, r"attributes.a\[1\].b is -inf"),
        ({"k\x00": "v"}, "key 'k\\\\x00' in attributes contains a NUL"),
        ({"k": "v\x00w"}, "attributes.k contains a NUL"),
        ({"k": ["ok", {"deep": "\x00"}]}, r"attributes.k\[1\].deep contains a NUL"),
        ({"k": "\ud800"}, "lone surrogate"),
        ({"k": "x" * 70_000}, "larger than 65536 bytes"),
        ({"k": {1, 2}}, "not a JSON value"),
    ],
)
def test_check_attributes_refuses_what_no_store_can_hold(value: Any, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as caught:
        check_attributes(value)
    assert caught.value.field == "attributes"


def test_check_attributes_accepts_ordinary_json() -> None:
    check_attributes({"city": "Oslo", "n": 1.5, "tags": ["a", None, True], "o": {"x": 0}})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"email": "a@x", "email": "b@x"}', "'email' is given twice"),
        ('{"a": {"b": 1, "b": 1}}', "'b' is given twice"),
        ('{"n": NaN}', "NaN is not a JSON number"),
        ('{"n": -Infinity}', "-Infinity is not a JSON number"),
        ('{"n": 1e999}', "out of range"),
        ('{"n": ', "not valid JSON"),
        ("[" * 100_000, "nested too deeply|not valid JSON"),
    ],
)
def test_strict_loads_refuses_duplicate_keys_and_non_numbers(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as caught:
        strict_loads(text, "body")
    assert caught.value.field == "body"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"n": NaN}', "NaN"),
        ('{"n": Infinity}', "Infinity"),
        ('{"k\\u0000": 1}', "NUL"),
        ('{"k": "a\\u0000"}', "NUL"),
        ('{"city": "Oslo", "city": "Bergen"}', "'city' is given twice"),
    ],
)
def test_cli_attributes_refuse_hostile_json(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        manage.json_object(text, "--attributes")


@pytest.mark.parametrize("cell", ['{"n": NaN}', '{"n": Infinity}', '{"k": "\\u0000"}'])
def test_csv_attributes_refuse_the_same(cell: str) -> None:
    with pytest.raises(InvalidInput, match=r"NaN|Infinity|NUL"):
        parse_attributes(cell)


@pytest.mark.parametrize("attributes", [{"n": math.nan}, {"k": "a\x00"}, {"k\x00": 1}])
async def test_use_cases_store_nothing_hostile(attributes: dict[str, Any]) -> None:
    store = MemoryStore()
    with pytest.raises(InvalidInput) as caught:
        await membership.add_subscriber(store, "a@example.com", attributes=attributes)
    assert caught.value.field == "attributes"
    assert await store.count_subscribers(None) == 0
    await store.add_subscriber(
        NewSubscriber("b@example.com", "B", {}), [], SubscriptionStatus.CONFIRMED
    )
    for change in ({"attributes": attributes}, {"merge_attributes": attributes}):
        with pytest.raises(InvalidInput):
            await manage.update(store, "b@example.com", dt.datetime.now(UTC), **change)
    assert (await store.get_subscriber("b@example.com")).attributes == {}


@pytest.mark.parametrize("name", ["utf-8\x00", "\x00", "\udcff", "klingon"])
def test_an_encoding_name_that_is_no_encoding_is_invalid_input(name: str) -> None:
    with pytest.raises(InvalidInput, match="unknown encoding"):
        parse_encoding(name)
