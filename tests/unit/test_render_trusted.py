"""The sandbox's shortcuts for campaignd's own data types give what the generic sandbox gives."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jinja2
import pytest

from campaignd.rendering.sandbox import LimitedSandbox
from campaignd.rendering.template_data import Attributes, CampaignData, Links, SubscriberData

NAMES = [
    "city", "plan", "absent", "items", "keys", "get", "copy", "pop", "update", "setdefault",
    "fromkeys", "mro", "__class__", "__missing__", "__slots__", "__dict__", "__init__",
    "_private", "__getitem__", "name", "first_name", "last_name", "email", "uuid",
    "attributes", "_links", "__post_init__", "__dataclass_fields__", "nmae", "tags",
]  # fmt: skip


def outcome(env: LimitedSandbox, obj: Any, name: str) -> tuple[str, Any]:
    try:
        value = env.getattr(obj, name)
    except jinja2.TemplateError as exc:
        return "error", type(exc)
    if isinstance(value, jinja2.Undefined):
        try:
            str(value)
        except jinja2.TemplateError as exc:
            return type(value).__name__, str(exc)
        return type(value).__name__, None
    return "value", value


def objects() -> list[Any]:
    links = Links("https://ex.org/u", lambda: "https://ex.org/o", dt.datetime.now(dt.UTC))
    attributes = Attributes(
        {"city": "Oslo", "items": "key named items", "_private": 1, "__class__": "x", "n": None}
    )
    return [
        attributes,
        Attributes(),
        {"city": "Oslo", "items": 1},
        SubscriberData("a@b.c", "Ada Lovelace", "u-1", attributes, links),
        CampaignData("n", "s", "u", ("t",)),
    ]


@pytest.mark.parametrize("name", NAMES)
def test_trusted_types_read_like_the_generic_sandbox(name: str) -> None:
    generic = LimitedSandbox(max_output=1000, timeout=1.0)
    trusted = LimitedSandbox(max_output=1000, timeout=1.0)
    trusted.trust(types=(SubscriberData, CampaignData), mappings=(Attributes,))
    for obj in objects():
        assert outcome(trusted, obj, name) == outcome(generic, obj, name), (obj, name)


def test_a_trusted_mapping_gives_its_items_and_missing_ones_softly() -> None:
    trusted = LimitedSandbox(max_output=1000, timeout=1.0)
    trusted.trust(mappings=(Attributes,))
    attributes = Attributes({"city": "Oslo", "items": "data"})
    assert trusted.getattr(attributes, "city") == "Oslo"
    assert trusted.getattr(attributes, "items") == attributes.items  # the method, as generic
    assert not trusted.getattr(attributes, "absent")
    assert isinstance(trusted.getattr(attributes, "__class__"), jinja2.Undefined)
