"""`campaignd subscribers ls` run as a real command on a SQLite database."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable

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
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert reason in lines[0]


@pytest.fixture
def people(cli: Cli) -> Cli:
    ok(cli("lists", "create", "News"))
    ok(
        cli(
            "subscribers",
            "add",
            "ann@example.com",
            "--attributes",
            '{"city": "Oslo", "score": 7}',
            "--list",
            "News",
            "--status",
            "confirmed",
        )
    )
    ok(
        cli(
            "subscribers",
            "add",
            "bjorn@example.org",
            "--name",
            "Bjørn",
            "--attributes",
            '{"city": "Bergen", "score": "12"}',
            "--list",
            "News",
        )
    )
    ok(
        cli(
            "subscribers",
            "add",
            "cid@example.com",
            "--name",
            '=HYPERLINK("http://x")',
            "--attributes",
            '{"city": "Oslo", "score": "n/a"}',
        )
    )
    return cli


def emails(out: str) -> list[str]:
    return [s["email"] for s in json.loads(out)["subscribers"]]


def test_ls_filters_and_prints_json_with_the_documented_fields(people: Cli) -> None:
    got = json.loads(
        ok(people("subscribers", "ls", "--query", 'attributes.city = "Oslo"', "--json"))
    )
    assert [s["email"] for s in got["subscribers"]] == ["ann@example.com", "cid@example.com"]
    assert got["next_after"] is None
    first = got["subscribers"][0]
    assert set(first) == {
        "id",
        "uuid",
        "email",
        "name",
        "attributes",
        "status",
        "created_at",
        "updated_at",
        "subscriptions",
    }
    assert first["subscriptions"][0] == {"list_id": 1, "list_name": "News", "status": "confirmed"}
    assert emails(ok(people("subscribers", "ls", "-q", "attributes.score >= 10", "--json"))) == [
        "bjorn@example.org"
    ]
    query = 'list = "News" and subscription = "confirmed"'
    assert emails(ok(people("subscribers", "ls", "-q", query, "--json"))) == ["ann@example.com"]
    assert emails(ok(people("subscribers", "ls", "-q", 'name ~ "ØR"', "--json"))) == [
        "bjorn@example.org"
    ]
    table = ok(people("subscribers", "ls"))
    assert table.splitlines()[0].split() == ["ID", "EMAIL", "NAME", "STATUS", "LISTS", "CREATED"]
    assert "News (confirmed)" in table and "next:" not in table


def test_pages_follow_the_next_hint(people: Cli) -> None:
    seen: list[str] = []
    args = ["subscribers", "ls", "--limit", "1"]
    for _ in range(5):
        result = people(*args)
        lines = ok(result).splitlines()
        seen += [line.split()[1] for line in lines[1:] if not line.startswith("next:")]
        if not lines[-1].startswith("next: --after "):
            break
        args = ["subscribers", "ls", "--limit", "1", "--after", lines[-1].split()[-1]]
    assert seen == ["ann@example.com", "bjorn@example.org", "cid@example.com"]
    page = people("subscribers", "ls", "--limit", "2", "--json")
    assert json.loads(ok(page))["next_after"] == 2
    assert page.stderr.strip() == "next: --after 2"  # stdout stays JSON


def test_csv_is_formula_neutralised(people: Cli) -> None:
    out = ok(people("subscribers", "ls", "--csv", "-q", 'email ~ "cid"'))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1
    assert rows[0]["name"] == '\'=HYPERLINK("http://x")'
    assert json.loads(rows[0]["attributes"]) == {"city": "Oslo", "score": "n/a"}


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ('citty = "Oslo"', "at column 1: unknown field 'citty'"),
        ("created >= 5", "at column 12: type mismatch"),
        ('name = "x', "at column 8: string never closed"),
        ("'; DROP TABLE subscribers; --", "at column 1: string never closed"),
        ("email = '' ; DROP TABLE subscribers", "at column 12: unexpected character ';'"),
        ('list = "Nope"', "no list named 'Nope'; the lists are: 'News'"),
        ("(" * 50 + "id = 1" + ")" * 50, "nested more than 20 levels"),
    ],
)
def test_bad_queries_are_one_line_and_change_nothing(people: Cli, query: str, reason: str) -> None:
    refused(people("subscribers", "ls", "--query", query), reason)
    assert len(emails(ok(people("subscribers", "ls", "--json")))) == 3


def test_bad_options_are_refused(people: Cli) -> None:
    refused(people("subscribers", "ls", "--limit", "0"), "--limit must be between 1 and 10000")
    refused(people("subscribers", "ls", "--after", "-1"), "--after must be")
    both = people("subscribers", "ls", "--json", "--csv")
    assert both.returncode == 2 and "not both" in both.stderr
