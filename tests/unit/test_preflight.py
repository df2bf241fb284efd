"""Attributes the templates use, found in their syntax, and the start/schedule preflight."""

from __future__ import annotations

import pytest

from campaignd.campaigns.lifecycle import apply_action, preflight
from campaignd.config import AppSettings
from campaignd.domain import (
    CampaignStatus,
    NewCampaign,
    NewSubscriber,
    OptIn,
    SubscriptionStatus,
    utcnow,
)
from campaignd.errors import InvalidInput, TemplateError
from campaignd.rendering.attributes import attribute_uses, used_attributes
from campaignd.store.memory import MemoryStore

CONFIRMED = SubscriptionStatus.CONFIRMED


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ subscriber.attributes.city }}", {"city"}),
        ('{{ subscriber.attributes["city"] }}', {"city"}),
        ("{{ subscriber['attributes']['city'] }}", {"city"}),
        ('{{ subscriber.attributes.get("city") }}', {"city"}),
        ("{{ subscriber.attributes.address.street }}", {"address"}),
        ("{{ subscriber.attributes.city | upper }}", {"city"}),
        ("{{ 'in ' ~ subscriber.attributes.city }}", {"city"}),
        ("{% set a = subscriber.attributes %}{{ a.city }}", {"city"}),
        ("{% set s = subscriber %}{% set a = s.attributes %}{{ a['city'] }}", {"city"}),
        ("{% with a = subscriber.attributes %}{{ a.city }}{% endwith %}", {"city"}),
        ("{% if subscriber.attributes.age > 18 %}adult{% endif %}", {"age"}),
        (
            "{% if subscriber.attributes.vip %}{{ subscriber.attributes.vip }}"
            "{% else %}{{ subscriber.attributes.tier }}{% endif %}",
            {"tier"},
        ),
        ("{% if subscriber.attributes.a %}{{ subscriber.attributes.b }}{% endif %}", {"b"}),
        ("{% macro m() %}{{ subscriber.attributes.city }}{% endmacro %}{{ m() }}", {"city"}),
        # Uses that cannot fail or print a missing attribute:
        ("{% if subscriber.attributes.city %}x{% endif %}", set()),
        (
            "{% if subscriber.attributes.city is defined %}{{ subscriber.attributes.city }}"
            "{% endif %}",
            set(),
        ),
        (
            "{% if not subscriber.attributes.city is undefined and subscriber.attributes.zip %}"
            "{{ subscriber.attributes.city }}{{ subscriber.attributes.zip }}{% endif %}",
            set(),
        ),
        ("{{ subscriber.attributes.city | default('nowhere') }}", set()),
        ("{{ subscriber.attributes.city if subscriber.attributes.city else 'x' }}", set()),
        ("{% for t in subscriber.attributes.tags %}{{ t }}{% endfor %}", set()),
        ('{{ subscriber.attributes.get("city", "nowhere") }}', set()),
        ("{% for k, v in subscriber.attributes.items() %}{{ k }}{% endfor %}", set()),
        ("{{ subscriber.attributes[name] }} {{ subscriber.name }}", set()),
        ("{{ other.attributes.city }}", set()),
    ],
)
def test_attributes_used_are_found_in_the_syntax(source: str, expected: set[str]) -> None:
    assert used_attributes(source) == expected


def test_uses_are_named_by_field_and_a_syntax_error_names_the_field() -> None:
    uses = attribute_uses(
        {
            "subject": "Hi {{ subscriber.attributes.first }}",
            "header X-Plan": "{{ subscriber.attributes.plan }}",
            "body": "{{ subscriber.attributes.plan }} {{ subscriber.attributes.first }}",
        }
    )
    assert uses == {"first": ("subject", "body"), "plan": ("header X-Plan", "body")}
    with pytest.raises(TemplateError, match="alt_body: line 1"):
        attribute_uses({"alt_body": "{{ x "})


async def _campaign(store: MemoryStore) -> int:
    news = await store.create_list("news", OptIn.SINGLE, "")
    people = {"a@x.org": {"city": "Oslo"}, "b@x.org": {}, "c@x.org": {"plan": "pro"}}
    for address, attributes in people.items():
        await store.add_subscriber(NewSubscriber(address, "N", attributes), [news.id], CONFIRMED)
    created = await store.create_campaign(
        NewCampaign(
            name="c",
            subject="News for {{ subscriber.attributes.city }}",
            from_email="me@example.com",
            body="{{ subscriber.attributes.plan | default('free') }} "
            "{{ subscriber.attributes.city }} {{ subscriber.attributes.zip }}",
            lists=("news",),
        ),
        None,
    )
    return created.id


async def test_preflight_counts_recipients_lacking_each_used_attribute() -> None:
    store = MemoryStore()
    cid = await _campaign(store)
    report = await preflight(store, cid, AppSettings())
    assert [(a.name, a.missing, a.fields) for a in report.lacking] == [
        ("city", 2, ("subject", "body")),
        ("zip", 3, ("body",)),
    ]
    assert not report.refused  # "blank": a warning only
    assert report.warnings() == [
        "warning: 2 recipients lack attribute 'city' (used in subject, body); "
        "it renders empty for them",
        "warning: 3 recipients lack attribute 'zip' (used in body); it renders empty for them",
    ]


async def test_start_warns_and_under_fail_refuses_unless_forced() -> None:
    store = MemoryStore()
    cid = await _campaign(store)
    warned: list[str] = []
    fail = AppSettings(missing_attributes="fail")
    with pytest.raises(InvalidInput, match=r"not started: 2 attributes .* --force"):
        await apply_action(store, cid, "start", utcnow(), app=fail, warn=warned.append)
    assert (await store.get_campaign(cid)).status is CampaignStatus.DRAFT  # nothing changed
    assert len(warned) == 2 and all("sending to them fails" in w for w in warned)

    started = await apply_action(
        store, cid, "start", utcnow(), app=fail, force=True, warn=warned.append
    )
    assert started.status is CampaignStatus.RUNNING


async def test_start_under_blank_warns_and_starts() -> None:
    store = MemoryStore()
    cid = await _campaign(store)
    warned: list[str] = []
    started = await apply_action(
        store, cid, "start", utcnow(), app=AppSettings(), warn=warned.append
    )
    assert started.status is CampaignStatus.RUNNING
    assert [w.split(" (")[0] for w in warned] == [
        "warning: 2 recipients lack attribute 'city'",
        "warning: 3 recipients lack attribute 'zip'",
    ]


def test_one_lacking_recipient_reads_in_the_singular() -> None:
    from campaignd.campaigns.lifecycle import LackingAttribute, Preflight

    report = Preflight(1, (LackingAttribute("city", 1, ("body",)),), "fail")
    assert report.warnings() == [
        "warning: 1 recipient lacks attribute 'city' (used in body); sending to them fails"
    ]
    assert "1 attribute the templates use is missing" in str(report.refusal("schedule"))
    assert "campaign 1 not scheduled" in str(report.refusal("schedule"))
