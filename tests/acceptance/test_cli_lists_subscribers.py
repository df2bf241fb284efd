"""`campaignd lists` and `campaignd subscribers` run as real commands on a SQLite database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from campaignd.db.migrate import upgrade

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(sqlite_url: str) -> Cli:
    asyncio.run(upgrade(sqlite_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    env["CAMPAIGND_DB__URL"] = sqlite_url

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "campaignd", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], reason: str) -> None:
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert reason in lines[0]


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def test_lists_create_and_ls(cli: Cli) -> None:
    assert "created list 'news'" in ok(cli("lists", "create", "news"))
    ok(cli("lists", "create", "vip", "--optin", "double", "--description", "Paying readers"))
    assert "public" in ok(cli("lists", "create", "open", "--public"))
    refused(cli("lists", "create", "news"), "already exists")
    refused(cli("lists", "create", "  "), "empty")

    found = as_json(cli("lists", "ls", "--json"))
    assert [
        {k: m[k] for k in ("id", "name", "optin", "description", "subscriber_count")}
        for m in found[:2]
    ] == [
        {"id": 1, "name": "news", "optin": "single", "description": "", "subscriber_count": 0},
        {
            "id": 2,
            "name": "vip",
            "optin": "double",
            "description": "Paying readers",
            "subscriber_count": 0,
        },
    ]
    assert found[0]["created_at"].endswith("+00:00")
    assert [(m["name"], m["public"]) for m in found] == [
        ("news", False),
        ("vip", False),
        ("open", True),
    ]
    assert len({uuid.UUID(m["uuid"]) for m in found}) == 3
    table = ok(cli("lists", "ls")).splitlines()
    assert table[0].split() == [
        "ID",
        "NAME",
        "OPTIN",
        "SUBSCRIBERS",
        "DESCRIPTION",
        "CREATED",
        "PUBLIC",
        "UUID",
    ]
    assert table[2].split()[:5] == ["2", "vip", "double", "0", "Paying"]

    assert "public, uuid" in ok(cli("lists", "update", "news", "--public"))
    refused(cli("lists", "update", "nope", "--public"), "no list named 'nope'")
    refused(cli("lists", "update", "news"), "nothing to change")
    changed = as_json(cli("lists", "update", "open", "--private", "--json"))
    assert (changed["name"], changed["public"]) == ("open", False)
    found = as_json(cli("lists", "ls", "--json"))
    assert [(m["name"], m["public"]) for m in found] == [
        ("news", True),
        ("vip", False),
        ("open", False),
    ]


def test_subscriber_add_show_unsubscribe_blocklist(cli: Cli) -> None:
    ok(cli("lists", "create", "news"))
    ok(cli("lists", "create", "vip", "--optin", "double"))
    added = cli(
        "subscribers", "add", "  Jane.Doe@EXAMPLE.com ",
        "--attributes", '{"city": "Oslo", "plan": {"tier": 2}}',
        "--list", "news", "--list", "vip", "--status", "confirmed",
    )  # fmt: skip
    assert "added subscriber Jane.Doe@example.com" in ok(added)

    shown = as_json(cli("subscribers", "show", "jane.doe@example.COM", "--json"))
    assert {k: shown[k] for k in ("email", "name", "attributes", "status")} == {
        "email": "Jane.Doe@example.com",
        "name": "Jane Doe",  # derived from the local part
        "attributes": {"city": "Oslo", "plan": {"tier": 2}},
        "status": "enabled",
    }
    assert shown["subscriptions"] == [
        {"list_id": 1, "list_name": "news", "status": "confirmed"},
        {"list_id": 2, "list_name": "vip", "status": "confirmed"},
    ]
    assert "Jane.Doe@example.com" in ok(cli("subscribers", "show", "jane.doe@example.com"))
    refused(cli("subscribers", "add", "JANE.DOE@example.com"), "already exists")

    assert "1 subscription(s) changed" in ok(
        cli("subscribers", "unsubscribe", "jane.doe@example.com", "--list", "vip")
    )
    shown = as_json(cli("subscribers", "show", "jane.doe@example.com", "--json"))
    assert [s["status"] for s in shown["subscriptions"]] == ["confirmed", "unsubscribed"]
    counts = {m["name"]: m["subscriber_count"] for m in as_json(cli("lists", "ls", "--json"))}
    assert counts == {"news": 1, "vip": 0}

    ok(cli("subscribers", "blocklist", "jane.doe@example.com"))
    shown = as_json(cli("subscribers", "show", "jane.doe@example.com", "--json"))
    assert shown["status"] == "blocklisted"
    assert {s["status"] for s in shown["subscriptions"]} == {"unsubscribed"}


def test_bad_input_is_refused_and_nothing_is_written(cli: Cli) -> None:
    ok(cli("lists", "create", "news"))
    refused(cli("subscribers", "add", "not-an-address"), "invalid address")
    refused(cli("subscribers", "add", "a@example.com", "--attributes", "[1, 2]"), "JSON object")
    refused(cli("subscribers", "add", "a@example.com", "--attributes", "{oops"), "not valid JSON")
    refused(
        cli("subscribers", "add", "a@example.com", "--list", "news", "--list", "nope"),
        "no list named 'nope'",
    )
    refused(cli("subscribers", "show", "a@example.com"), "no subscriber a@example.com")
    # an unknown address is blocklisted (a new record; issue 17), a bad one is refused
    refused(cli("subscribers", "blocklist", "not an address"), "invalid address")
    refused(cli("subscribers", "unsubscribe", "b@example.com"), "no subscriber")
    assert as_json(cli("lists", "ls", "--json"))[0]["subscriber_count"] == 0


def test_unsubscribe_from_a_list_one_is_not_on_is_refused(cli: Cli) -> None:
    ok(cli("lists", "create", "news"))
    ok(cli("lists", "create", "vip"))
    ok(cli("subscribers", "add", "ann@example.com", "--list", "news", "--status", "confirmed"))
    refused(
        cli("subscribers", "unsubscribe", "ann@example.com", "--list", "vip"),
        "ann@example.com is not on the list 'vip'",
    )
    refused(
        cli("subscribers", "unsubscribe", "ann@example.com", "--list", "news", "--list", "vip"),
        "not on the list 'vip'",
    )
    refused(
        cli("subscribers", "unsubscribe", "ann@example.com", "--list", "nope"),
        "no list named 'nope'; the lists are: 'news', 'vip'",
    )
    shown = json.loads(ok(cli("subscribers", "show", "ann@example.com", "--json")))
    assert [s["status"] for s in shown["subscriptions"]] == ["confirmed"]  # nothing changed
    assert "1 subscription(s) changed" in ok(
        cli("subscribers", "unsubscribe", "ann@example.com", "--list", "news")
    )
