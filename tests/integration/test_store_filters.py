"""The filter language on every store: memory, SQLite and PostgreSQL give the same answers."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from campaignd.domain import NewSubscriber, OptIn, SubscriberStatus, SubscriptionStatus
from campaignd.filters import parse
from tests.integration.store_fixtures import store, store_url

__all__ = ["store", "store_url"]  # fixtures

CONFIRMED = SubscriptionStatus.CONFIRMED
UNCONFIRMED = SubscriptionStatus.UNCONFIRMED
UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED

PEOPLE: list[tuple[str, str, dict[str, Any], SubscriberStatus, dict[str, SubscriptionStatus]]] = [
    (
        "ann@example.com",
        "Ann",
        {"city": "Oslo", "score": 7, "tags": ["vip", "a"], "vip": True},
        SubscriberStatus.ENABLED,
        {"News": CONFIRMED},
    ),
    (
        "bjorn@Example.com",
        "Bjørn Ås",
        {"city": "Bergen", "score": "12"},
        SubscriberStatus.ENABLED,
        {"News": UNCONFIRMED, "Deals": CONFIRMED},
    ),
    (
        "cid@test.org",
        "Cid",
        {"score": "abc", "city": "oslo"},
        SubscriberStatus.DISABLED,
        {"Deals": UNSUBSCRIBED},
    ),
    ("dee@example.org", "DEE ØSTBY", {}, SubscriberStatus.ENABLED, {}),
    (
        "eve@example.com",
        "Eve",
        {"score": 4.5, "tags": "vip", "n": None, "big": "1" * 41},
        SubscriberStatus.BLOCKLISTED,
        {"News": UNSUBSCRIBED},
    ),
    (
        "fay@example.net",
        "Fay 100%_x",
        {"score": "5", "city": "Oslo ", "weird-key": "x", "line": "5\n"},
        SubscriberStatus.ENABLED,
        {"News": CONFIRMED},
    ),
]

# expression -> the people (by first letter of the address) it matches
EXPECTED = {
    'status = "enabled"': "abdf",
    'status != "enabled"': "ce",
    'attributes.city = "Oslo"': "a",
    'attributes.city != "Oslo"': "bcdef",
    'attributes.city ~ "oslo"': "acf",
    "attributes.score >= 5": "abf",
    "attributes.score < 5": "e",
    "not attributes.score >= 5": "cde",
    "attributes.score = 12": "b",
    'attributes.score = "12"': "b",
    'attributes.score = "7"': "",
    "attributes.score > -1e3 and attributes.score <= 7": "aef",
    'attributes.tags has "vip"': "a",
    "attributes.vip = true": "a",
    "attributes.vip = false": "",
    "attributes.big > 0 or attributes.line > 0": "",
    'attributes.weird-key = "x"': "f",
    'email ~ "@EXAMPLE.com"': "abe",
    'email = "BJORN@example.COM"': "b",
    'name ~ "ø"': "bd",
    'name ~ "%_"': "f",
    'name ~ ".*"': "",
    'name = "Ann"': "a",
    'name != "Ann"': "bcdef",
    'list = "News"': "abef",
    'list = "News" and subscription = "confirmed"': "af",
    'list = "Deals" and subscription != "unsubscribed"': "b",
    'subscription = "unsubscribed"': "ce",
    'list != "News"': "cd",
    '(list = "News" or list = "Deals") and status = "enabled" and not attributes.city ~ "bergen"': (
        "af"
    ),
    'created >= "2000-01-01"': "abcdef",
    'created < "2000-01-01" or updated < "2000-01-01T00:00:00Z"': "",
    'name = "\'; DROP TABLE subscribers; --"': "",
    'name ~ "y 100%_"': "f",  # space, % and _ are plain characters
    'email ~ "-" or name ~ "#&~" or name ~ "\\\\"': "",
    'name ~ ""': "abcdef",
}


async def _people(store: Any) -> dict[int, str]:
    lists = {
        "News": (await store.create_list("News", OptIn.SINGLE, "")).id,
        "Deals": (await store.create_list("Deals", OptIn.DOUBLE, "")).id,
    }
    ids: dict[int, str] = {}
    for email, name, attributes, status, subscriptions in PEOPLE:
        added = await store.add_subscriber(NewSubscriber(email, name, attributes), [], CONFIRMED)
        for list_name, sub_status in subscriptions.items():
            await _subscribe(store, added.email, lists[list_name], sub_status)
        if status is not SubscriberStatus.ENABLED:
            await store.set_subscriber_status(email, status)
        ids[added.id] = email[0]
    return ids


async def _subscribe(store: Any, email: str, list_id: int, status: SubscriptionStatus) -> None:
    from campaignd.domain import ImportOptions

    row = NewSubscriber(email, "", {})
    target = SubscriptionStatus.UNCONFIRMED if status is UNSUBSCRIBED else status
    options = ImportOptions(list_ids=(list_id,), status=target, overwrite_status=True)
    await store.import_batch([row], options)
    if status is UNSUBSCRIBED:
        sid = (await store.get_subscriber(email)).id
        await store.unsubscribe(sid, [list_id])


async def test_every_store_gives_the_same_answers(store: Any) -> None:
    ids = await _people(store)
    for expression, expected in EXPECTED.items():
        node = parse(expression)
        found = await store.query_subscribers(node, 0, 100)
        got = "".join(sorted(ids[s.id] for s in found))
        assert got == expected, f"{expression}: got {got!r}, expected {expected!r}"
        assert await store.count_subscribers(node) == len(expected), expression
    assert await store.count_subscribers(None) == len(PEOPLE)  # nothing was dropped


async def test_a_date_alone_is_the_whole_day_on_every_store(store: Any) -> None:
    before = dt.datetime.now(dt.UTC).date()
    ids = await _people(store)
    if dt.datetime.now(dt.UTC).date() != before:
        pytest.skip("the day changed while the subscribers were added")
    today, tomorrow = before.isoformat(), (before + dt.timedelta(days=1)).isoformat()
    yesterday = (before - dt.timedelta(days=1)).isoformat()
    for expression, expected in {
        f'created = "{today}"': "abcdef",
        f'created != "{today}"': "",
        f'created <= "{today}" and created > "{yesterday}"': "abcdef",
        f'created > "{today}" or created >= "{tomorrow}"': "",
        f'updated < "{tomorrow}T00:00:00+00:00"': "abcdef",
        f'updated < "{today}T00:00:00+00:00"': "",
    }.items():
        found = await store.query_subscribers(parse(expression), 0, 100)
        assert "".join(sorted(ids[s.id] for s in found)) == expected, expression


async def test_results_page_by_id_and_carry_subscriptions(store: Any) -> None:
    ids = await _people(store)
    node = parse('status = "enabled"')
    seen: list[int] = []
    after = 0
    while page := await store.query_subscribers(node, after, 2):
        assert len(page) <= 2
        seen += [s.id for s in page]
        after = page[-1].id
    assert seen == sorted(seen)
    assert "".join(ids[i] for i in seen) == "abdf"
    bjorn = (await store.query_subscribers(parse('email = "bjorn@example.com"'), 0, 10))[0]
    assert bjorn.name == "Bjørn Ås"
    assert bjorn.attributes == {"city": "Bergen", "score": "12"}
    assert {(s.list_name, s.status) for s in bjorn.subscriptions} == {
        ("News", UNCONFIRMED),
        ("Deals", CONFIRMED),
    }
    assert await store.query_subscribers(None, seen[-1], 10) == [
        s for s in await store.query_subscribers(None, 0, 10) if s.id > seen[-1]
    ]


async def test_a_segment_narrows_the_ledger_fill_and_its_count_agrees(store: Any) -> None:
    from campaignd.campaigns.segments import segment_matches
    from campaignd.domain import NewCampaign

    ids = await _people(store)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

    async def fill(segment: str | None, *lists: str) -> str:
        new = NewCampaign(
            name="c",
            subject="s",
            from_email="me@example.com",
            body="b",
            lists=lists,
            segment=segment,
        )
        created = await store.create_campaign(new, None)
        assert created.segment == segment
        assert (await store.get_campaign(created.id)).segment == segment
        # in two chunks, as the daemon fills it
        added = await store.populate_ledger(created.id, now, after=0, upto=2)
        added += await store.populate_ledger(created.id, now, after=2)
        assert await store.populate_ledger(created.id, now) == 0  # idempotent
        assert (await store.counts(created.id)).to_send == added
        assert await segment_matches(store, created) == (added if segment else None)
        rows = await store.claim_batch(created.id, "me", 100, now)
        return "".join(sorted(ids[r.subscriber_id] for r in rows))

    # News: a (confirmed), b (unconfirmed, single opt-in), f (confirmed); e is blocklisted.
    assert await fill(None, "News") == "abf"
    assert await fill('attributes.city ~ "oslo"', "News") == "af"
    assert await fill("attributes.score >= 6", "News") == "ab"
    assert await fill('list = "Deals"', "News") == "b"
    # Eligibility is unchanged: the segment cannot bring in the blocklisted or unsubscribed.
    assert await fill('email ~ "eve" or email ~ "cid"', "News", "Deals") == ""
    assert await fill('not name = "x"', "Deals") == "b"


def _random_expression(rng: random.Random, depth: int = 0) -> str:
    """A random well-typed expression over the fields and tricky values of PEOPLE."""
    roll = rng.random()
    if depth < 3 and roll < 0.35:
        joiner = rng.choice([" and ", " or "])
        parts = [_random_expression(rng, depth + 1) for _ in range(rng.randint(2, 3))]
        return "(" + joiner.join(parts) + ")"
    if depth < 3 and roll < 0.45:
        return "not " + _random_expression(rng, depth + 1)
    texts = ['"Oslo"', '"oslo"', '"5"', '"12"', '""', '"ø"', '"Ø"', '"%_"', '"vip"', "'a'"]
    numbers = ["0", "5", "4.5", "-1", "12", "1e3", "7"]
    days = ['"2000-01-01"', '"2999-01-01"']
    key = rng.choice(["city", "score", "tags", "vip", "n", "big", "line", "nope", "weird-key"])
    field, op, value = rng.choice(
        [
            (f"attributes.{key}", rng.choice(["=", "!="]), rng.choice(texts + numbers)),
            (f"attributes.{key}", rng.choice(["=", "!="]), rng.choice(["true", "false"])),
            (f"attributes.{key}", rng.choice(["<", "<=", ">", ">="]), rng.choice(numbers)),
            (f"attributes.{key}", rng.choice(["~", "has"]), rng.choice(texts)),
            ("email", rng.choice(["=", "!=", "~"]), rng.choice([*texts, '"EXAMPLE.COM"'])),
            ("name", rng.choice(["=", "!=", "~"]), rng.choice([*texts, '"Ann"', '"ås"'])),
            ("status", rng.choice(["=", "!="]), rng.choice(['"enabled"', '"blocklisted"'])),
            ("list", rng.choice(["=", "!="]), rng.choice(['"News"', '"Deals"'])),
            (
                "subscription",
                rng.choice(["=", "!="]),
                rng.choice(['"confirmed"', '"unsubscribed"']),
            ),
            ("created", rng.choice(["<", ">=", "="]), rng.choice(days)),
        ]
    )
    return f"{field} {op} {value}"


# The twin is the reference here, so only the SQL stores are compared with it.
@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
async def test_random_expressions_agree_with_the_in_memory_twin(store: Any) -> None:
    from campaignd.store.memory import MemoryStore

    twin = MemoryStore()
    ids, twin_ids = await _people(store), await _people(twin)
    rng = random.Random(20261205)
    for _ in range(150):
        expression = _random_expression(rng)
        node = parse(expression)
        got = "".join(sorted(ids[s.id] for s in await store.query_subscribers(node, 0, 100)))
        want = "".join(sorted(twin_ids[s.id] for s in await twin.query_subscribers(node, 0, 100)))
        assert got == want, expression


async def test_the_attribute_preflight_counts_only_the_segment(store: Any) -> None:
    from campaignd.domain import NewCampaign

    await _people(store)

    async def lacking(segment: str | None) -> dict[str, int]:
        new = NewCampaign(
            name="c",
            subject="s",
            from_email="me@example.com",
            body="b",
            lists=("News",),
            segment=segment,
        )
        created = await store.create_campaign(new, None)
        result: dict[str, int] = await store.missing_attributes(created.id, ["city", "tags", "vip"])
        return result

    # News recipients: ann (city, tags, vip), bjorn (city), fay (city)
    assert await lacking(None) == {"city": 0, "tags": 2, "vip": 2}
    assert await lacking('attributes.city ~ "oslo"') == {"city": 0, "tags": 1, "vip": 1}
    assert await lacking('name = "Ann"') == {"city": 0, "tags": 0, "vip": 0}


async def test_the_segment_preflight_leaves_out_recipients_already_done(store: Any) -> None:
    from campaignd.domain import DeliveryRecord, DeliveryStatus, NewCampaign

    await _people(store)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    new = NewCampaign(
        name="c",
        subject="s",
        from_email="me@example.com",
        body="b",
        lists=("News",),
        segment='attributes.city ~ "oslo"',
    )
    created = await store.create_campaign(new, None)
    await store.populate_ledger(created.id, now)
    claimed = await store.claim_batch(created.id, "me", 10, now)
    assert sorted(r.email for r in claimed) == ["ann@example.com", "fay@example.net"]
    fay = next(r for r in claimed if r.email.startswith("fay"))
    assert await store.missing_attributes(created.id, ["tags"]) == {"tags": 1}
    sent = DeliveryRecord(fay.ledger_id, DeliveryStatus.SENT, 1, 250, None, "ok", "s", "<m>")
    await store.record_deliveries([sent], now)
    assert await store.missing_attributes(created.id, ["tags"]) == {"tags": 0}
