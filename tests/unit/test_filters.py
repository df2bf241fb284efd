"""The filter language: parsing, checked errors with columns, hostile input, evaluation."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignd.domain import Subscriber, SubscriberStatus, Subscription, SubscriptionStatus
from campaignd.errors import InvalidInput
from campaignd.filters import MAX_DEPTH, MAX_LENGTH, And, Compare, Member, Not, Or, parse
from campaignd.filters.evaluate import matches

UTC = dt.UTC


def sub(
    email: str = "ann@example.com",
    name: str = "Ann",
    attributes: dict[str, object] | None = None,
    status: SubscriberStatus = SubscriberStatus.ENABLED,
    created: dt.datetime = dt.datetime(2026, 1, 15, 12, tzinfo=UTC),
    subscriptions: tuple[Subscription, ...] = (),
) -> Subscriber:
    return Subscriber(
        id=7,
        uuid=uuid.uuid4(),
        email=email,
        name=name,
        attributes=attributes or {},
        status=status,
        created_at=created,
        updated_at=created,
        subscriptions=subscriptions,
    )


def test_the_examples_parse_to_the_expected_tree() -> None:
    tree = parse('status = "enabled" and list = "News" and subscription = "confirmed"')
    assert tree == And(
        (
            Compare("status", "=", "enabled"),
            Member("News"),
            Member("News", "confirmed"),
        )
    )
    assert parse('attributes.city = "Oslo" or attributes.score >= 5') == Or(
        (Compare("attributes", "=", "Oslo", "city"), Compare("attributes", ">=", 5, "score"))
    )
    assert parse("not (email ~ '@Example.com')") == Not(Compare("email", "~", "@Example.com"))
    assert parse('attributes.tags has "vip"') == Compare("attributes", "has", "vip", "tags")


def test_precedence_is_not_then_and_then_or() -> None:
    tree = parse("id = 1 or id = 2 and not id = 3")
    assert tree == Or(
        (Compare("id", "=", 1), And((Compare("id", "=", 2), Not(Compare("id", "=", 3)))))
    )


def test_inequality_is_the_negation_so_a_missing_attribute_matches_it() -> None:
    assert parse('attributes.city != "Oslo"') == Not(Compare("attributes", "=", "Oslo", "city"))
    assert matches(parse('attributes.city != "Oslo"'), sub())
    assert not matches(parse('attributes.city = "Oslo"'), sub())


def test_a_date_alone_means_the_whole_day() -> None:
    day = dt.datetime(2026, 1, 15, tzinfo=UTC)
    assert parse('created = "2026-01-15"') == And(
        (Compare("created", ">=", day), Compare("created", "<", day + dt.timedelta(days=1)))
    )
    assert matches(parse('created = "2026-01-15"'), sub())
    assert matches(parse('created <= "2026-01-15"'), sub())
    assert not matches(parse('created > "2026-01-15"'), sub())
    assert matches(parse('created >= "2026-01-01" and created < "2026-02-01"'), sub())
    assert not matches(parse('created < "2026-01-15T12:00:00+00:00"'), sub())
    assert matches(parse('created < "2026-01-15T12:00:00-01:00"'), sub())


@pytest.mark.parametrize(
    ("expression", "column", "words"),
    [
        ('citty = "Oslo"', 1, "unknown field 'citty'"),
        ('name = "Ann', 8, "string never closed"),
        ("created >= 5", 12, "type mismatch"),
        ('status ~ "x"', 8, "operator ~ does not apply to status"),
        ("status = 'nope'", 10, "'nope' is not one of enabled"),
        ('attributes.score >= "5"', 21, "needs a number"),
        ("attributes.tags has 5", 21, "needs text"),
        ("id = 1.5", 6, "whole number"),
        ("id = 1 id = 2", 8, "expected 'and', 'or' or the end"),
        ("(id = 1", 8, "expected ')' to close column 1"),
        ("id", 3, "expected an operator"),
        ("id =", 5, "expected a value"),
        ("id # 1", 4, "unexpected character '#'"),
        ('name = "a\\q"', 10, "unknown escape '\\\\q'"),
        ('name = "a\\\nb"', 10, "unknown escape '\\\\\\n'"),
        ("id = 1e999", 6, "out of range"),
        ('created = "yesterday"', 11, "is not a date"),
        ("and = 1", 1, "expected a field"),
        ('attributes. = "x"', 1, "attributes.NAME needs a name"),
    ],
)
def test_bad_expressions_say_what_and_where(expression: str, column: int, words: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse(expression)
    message = str(raised.value)
    assert "\n" not in message
    assert f"at column {column}:" in message
    assert words in message


@pytest.mark.parametrize(
    "hostile",
    [
        "'; DROP TABLE subscribers; --",
        "email = ''; DROP TABLE subscribers; --",
        'name = "x" ; DELETE FROM subscribers',
        "email = 'a' or 1=1",
        "attributes.x') OR 1=1 -- = 1",
        "\x00",
        'status = "enabled" -- comment',
    ],
)
def test_injection_attempts_are_refused_as_bad_syntax(hostile: str) -> None:
    with pytest.raises(InvalidInput, match="invalid filter"):
        parse(hostile)


def test_quotes_inside_strings_are_data() -> None:
    tree = parse("name = \"O'Brien \\\"Bob\\\"\" or name = 'x\\'y'")
    assert tree == Or((Compare("name", "=", 'O\'Brien "Bob"'), Compare("name", "=", "x'y")))


def test_size_and_depth_are_bounded() -> None:
    with pytest.raises(InvalidInput, match="longer than"):
        parse("id = 1 or " * (MAX_LENGTH // 5))
    deep = "(" * (MAX_DEPTH + 1) + "id = 1" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(InvalidInput, match="nested more than"):
        parse(deep)
    with pytest.raises(InvalidInput, match="nested more than"):
        parse("not " * 900 + "id = 1")
    with pytest.raises(InvalidInput, match="more than 100 comparisons"):
        parse(" or ".join(["id = 1"] * 101))
    ok = "(" * MAX_DEPTH + "id = 7" + ")" * MAX_DEPTH
    assert matches(parse(ok), sub())


def test_contains_is_case_insensitive_also_beyond_ascii() -> None:
    bjorn = sub(email="Bjorn@Example.COM", name="BJØRN Åse Jr.")
    assert matches(parse('email ~ "@example.com"'), bjorn)
    assert matches(parse('name ~ "ø"'), bjorn)
    assert matches(parse('name ~ "åse"'), bjorn)
    assert not matches(parse('name ~ "bob"'), bjorn)
    assert matches(parse('name ~ "."'), bjorn)  # regex characters are plain text
    assert not matches(parse('name ~ ".*x"'), bjorn)
    assert matches(parse('email = "BJORN@example.com"'), bjorn)


def test_numbers_stored_as_text_compare_as_numbers_and_junk_never_matches() -> None:
    cases = {
        "5": True,
        "10": True,
        " 7": False,
        "7\n": False,
        "abc": False,
        "": False,
        "1" * 41: False,
        "NaN": False,
        "1e3": True,
    }
    for stored, expected in cases.items():
        assert matches(parse("attributes.score >= 5"), sub(attributes={"score": stored})) is (
            expected
        ), stored
    assert matches(parse("attributes.score >= 5"), sub(attributes={"score": 5.5}))
    assert not matches(parse("attributes.score >= 5"), sub(attributes={"score": True}))
    assert not matches(parse("attributes.score >= 5"), sub(attributes={"score": [9]}))
    assert not matches(parse('attributes.score = "5"'), sub(attributes={"score": 5}))
    assert matches(parse("attributes.score = 5"), sub(attributes={"score": "5"}))


def test_booleans_tags_and_membership() -> None:
    on_news = (
        Subscription(1, "News", SubscriptionStatus.CONFIRMED),
        Subscription(2, "Deals", SubscriptionStatus.UNSUBSCRIBED),
    )
    s = sub(attributes={"vip": True, "tags": ["a", "vip", 3]}, subscriptions=on_news)
    assert matches(parse("attributes.vip = true"), s)
    assert not matches(parse("attributes.vip = false"), s)
    assert matches(parse('attributes.tags has "vip"'), s)
    assert not matches(parse('attributes.tags has "3"'), s)
    assert matches(parse('list = "News" and subscription = "confirmed"'), s)
    assert not matches(parse('list = "Deals" and subscription = "confirmed"'), s)
    assert matches(parse('list = "Deals" and subscription != "confirmed"'), s)
    either = 'list = "Deals" and (subscription = "confirmed" or subscription = "unconfirmed")'
    assert parse(either) == And(
        (Member("Deals"), Or((Member("Deals", "confirmed"), Member("Deals", "unconfirmed"))))
    )
    assert not matches(parse(either), s)
    own = 'list = "Deals" and (list = "News" or subscription = "confirmed")'
    assert parse(own) == And((Member("Deals"), Or((Member("News"), Member(None, "confirmed")))))
    # Without exactly one list in the same `and`, subscription is about any list.
    assert matches(parse('subscription = "confirmed"'), s)
    assert matches(parse('list != "Other"'), s)


_PIECES = st.sampled_from(
    [
        "id",
        "email",
        "attributes.score",
        "list",
        "subscription",
        "status",
        "created",
        "not",
        "and",
        "or",
        "has",
        "(",
        ")",
        "=",
        "!=",
        "<=",
        "~",
        '"x',
        '"ok"',
        "'q'",
        "5",
        "-1.5e2",
        "1e999",
        "true",
        "\\",
        "\x00",
        ";",
        "--",
        " ",
        "\n",
        "ø",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(_PIECES, max_size=30).map(" ".join)))
def test_any_text_parses_or_is_refused_with_a_column(source: str) -> None:
    try:
        tree = parse(source)
    except InvalidInput as exc:
        message = str(exc)
        assert message.startswith("invalid filter")
        assert "\n" not in message and "\x00" not in message
        return
    matches(tree, sub())  # whatever parses can be evaluated
