"""`subscribers update|blocklist|unblocklist|delete|export|export-data` as real commands on a
SQLite database: bad input gets one line and changes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from campaignd.db.migrate import upgrade

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _env(sqlite_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    env["CAMPAIGND_DB__URL"] = sqlite_url
    return env


@pytest.fixture
def cli(sqlite_url: str) -> Cli:
    asyncio.run(upgrade(sqlite_url))
    return _cli(sqlite_url)


def _cli(database_url: str) -> Cli:
    env = _env(database_url)

    def run(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "campaignd", *args],
            env=env if url is None else _env(url),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
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
    assert reason in lines[0], lines[0]


def show(cli: Cli, email: str) -> Any:
    return json.loads(ok(cli("subscribers", "show", email, "--json")))


def test_update_changes_name_attributes_status_and_address(cli: Cli) -> None:
    ok(cli("lists", "create", "news"))
    ok(cli("subscribers", "add", "ann@example.com", "--list", "news", "--attributes",
           '{"city": "Oslo", "score": 1}'))  # fmt: skip
    merged = json.loads(
        ok(
            cli(
                "subscribers",
                "update",
                "ANN@example.com",
                "--name",
                " Ann A ",
                "--merge-attributes",
                '{"score": 5, "plan": null}',
                "--json",
            )
        )
    )
    assert merged["name"] == "Ann A"
    assert merged["attributes"] == {"city": "Oslo", "score": 5, "plan": None}
    replaced = show(cli, "ann@example.com")
    assert replaced["updated_at"] > replaced["created_at"]
    out = ok(cli("subscribers", "update", "ann@example.com", "--attributes", '{"a": 1}',
                 "--status", "disabled", "--email", "Ann@Example.ORG"))  # fmt: skip
    assert "updated subscriber Ann@example.org" in out
    after = show(cli, "ann@example.org")
    assert (after["attributes"], after["status"]) == ({"a": 1}, "disabled")
    assert after["subscriptions"][0]["status"] == "unconfirmed"
    refused(cli("subscribers", "show", "ann@example.com"), "no subscriber ann@example.com")
    # an empty name puts back the one derived from the address
    ok(cli("subscribers", "update", "ann@example.org", "--name", ""))
    assert show(cli, "ann@example.org")["name"] == "Ann"
    # to blocklisted: unsubscribed from every list, as `subscribers blocklist`
    ok(cli("subscribers", "update", "ann@example.org", "--status", "blocklisted"))
    assert show(cli, "ann@example.org")["subscriptions"][0]["status"] == "unsubscribed"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("nobody@example.com", "--name", "x"), "no subscriber nobody@example.com"),
        (("ann@example.com",), "nothing to change"),
        (("ann@example.com", "--attributes", "[1, 2]"), "must be a JSON object"),
        (("ann@example.com", "--attributes", "{bad"), "--attributes is not valid JSON"),
        (("ann@example.com", "--merge-attributes", '"x"'), "--merge-attributes must be a JSON"),
        (("ann@example.com", "--attributes", "{}", "--merge-attributes", "{}"), "not both"),
        (("ann@example.com", "--merge-attributes", json.dumps({"x": "y" * 70_000})), "larger"),
        (("ann@example.com", "--name", "n" * 300), "longer than 256"),
        (("ann@example.com", "--email", "bob@EXAMPLE.com", "--name", "x"), "already exists"),
        (("ann@example.com", "--email", "not an address"), "address"),
        (("ann@example.com", "--email", "ann@example.com\r\nBcc: x@evil.example"), "address"),
        (("ann@example.com", "--email", "x'; DROP TABLE subscribers;--@example.com"), "address"),
    ],
)
def test_update_refuses_bad_input_and_changes_nothing(
    cli: Cli, args: tuple[str, ...], reason: str
) -> None:
    ok(cli("subscribers", "add", "ann@example.com", "--attributes", '{"city": "Oslo"}'))
    ok(cli("subscribers", "add", "bob@example.com"))
    before = show(cli, "ann@example.com")
    refused(cli("subscribers", "update", *args), reason)
    assert show(cli, "ann@example.com") == before


def test_update_with_a_bad_status_is_a_usage_error(cli: Cli) -> None:
    ok(cli("subscribers", "add", "ann@example.com"))
    result = cli("subscribers", "update", "ann@example.com", "--status", "deleted")
    assert result.returncode == 2 and "deleted" in result.stderr


def test_blocklist_of_an_unknown_address_creates_a_blocklisted_record(cli: Cli) -> None:
    assert "a new, blocklisted record" in ok(cli("subscribers", "blocklist", "New@Example.COM"))
    made = show(cli, "new@example.com")
    assert (made["email"], made["status"], made["subscriptions"]) == (
        "New@example.com",
        "blocklisted",
        [],
    )
    # again: nothing new
    assert "unsubscribed from every list" in ok(cli("subscribers", "blocklist", "new@example.com"))
    refused(cli("subscribers", "blocklist", "not-an-address"), "address")
    assert "not-an-address" not in ok(cli("subscribers", "export"))


def test_unblocklist_enables_and_leaves_subscriptions_unsubscribed(cli: Cli) -> None:
    ok(cli("lists", "create", "news"))
    ok(cli("subscribers", "add", "ann@example.com", "--list", "news", "--status", "confirmed"))
    refused(cli("subscribers", "unblocklist", "ann@example.com"), "is not blocklisted")
    ok(cli("subscribers", "blocklist", "ann@example.com"))
    out = ok(cli("subscribers", "unblocklist", "ann@example.com"))
    assert "subscriptions stay unsubscribed" in out
    after = show(cli, "ann@example.com")
    assert after["status"] == "enabled"
    assert [s["status"] for s in after["subscriptions"]] == ["unsubscribed"]
    refused(cli("subscribers", "unblocklist", "nobody@example.com"), "no subscriber")


def test_delete_is_all_or_nothing_and_needs_yes_without_a_terminal(cli: Cli) -> None:
    ok(cli("lists", "create", "news"))
    for who in ("ann", "bob", "cat"):
        ok(cli("subscribers", "add", f"{who}@example.com", "--list", "news"))
    refused(
        cli("subscribers", "delete", "ann@example.com", "x@example.com", "y@example.com", "--yes"),
        "no subscriber x@example.com, y@example.com; nothing was deleted",
    )
    refused(cli("subscribers", "delete", "ann@example.com"), "give --yes")
    assert show(cli, "ann@example.com")["email"] == "ann@example.com"
    out = ok(cli("subscribers", "delete", "ANN@example.com", "bob@example.com", "--yes"))
    assert "deleted 2 subscriber(s)" in out
    refused(cli("subscribers", "show", "ann@example.com"), "no subscriber")
    lists = json.loads(ok(cli("lists", "ls", "--json")))
    assert lists[0]["subscriber_count"] == 1


def test_delete_by_query_deletes_exactly_the_matches(cli: Cli) -> None:
    ok(cli("lists", "create", "news"))
    for who, city in (("ann", "Oslo"), ("bob", "Bergen"), ("cat", "oslo"), ("dan", "Tromsø")):
        attributes = json.dumps({"city": city})
        ok(
            cli(
                "subscribers",
                "add",
                f"{who}@example.com",
                "--list",
                "news",
                "--attributes",
                attributes,
            )
        )
    refused(
        cli("subscribers", "delete", "--query", 'attributes.city = "Oslo" or', "--yes"),
        "invalid filter",
    )
    refused(cli("subscribers", "delete", "--query", "  ", "--yes"), "expression is empty")
    hostile = ok(cli("subscribers", "delete", "--query", 'email ~ "\'; DROP TABLE x; --"', "--yes"))
    assert "no subscriber matches" in hostile
    refused(cli("subscribers", "delete", "--query", 'email ~ "ann"'), "give --yes")
    refused(
        cli("subscribers", "delete", "ann@example.com", "--query", 'email ~ "ann"', "--yes"),
        "one of the two",
    )
    refused(cli("subscribers", "delete"), "one of the two")
    assert len(json.loads(ok(cli("subscribers", "ls", "--json")))["subscribers"]) == 4
    out = ok(cli("subscribers", "delete", "--query", 'attributes.city ~ "oslo"', "--yes"))
    assert "deleted 2 subscriber(s)" in out
    left = json.loads(ok(cli("subscribers", "ls", "--json")))["subscribers"]
    assert sorted(s["email"] for s in left) == ["bob@example.com", "dan@example.com"]
    out = ok(cli("subscribers", "delete", "--query", 'attributes.city = "Paris"', "--yes"))
    assert "no subscriber matches" in out


def _on_terminal(sqlite_url: str, args: list[str], answer: bytes) -> tuple[int, str]:
    """Run the CLI with a terminal as stdin; answer its prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "campaignd", *args],
        env=_env(sqlite_url),
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    os.write(master, answer)
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    return proc.wait(timeout=60), output.decode(errors="replace")


@pytest.mark.parametrize(("answer", "deleted"), [(b"y\n", True), (b"n\n", False)])
def test_delete_asks_on_a_terminal_naming_the_count(
    cli: Cli, sqlite_url: str, answer: bytes, deleted: bool
) -> None:
    ok(cli("subscribers", "add", "ann@example.com"))
    ok(cli("subscribers", "add", "bob@example.com"))
    code, output = _on_terminal(
        sqlite_url, ["subscribers", "delete", "ann@example.com", "bob@example.com"], answer
    )
    assert "Delete 2 subscriber(s)" in output
    assert code == (0 if deleted else 1), output
    still = cli("subscribers", "show", "ann@example.com")
    assert (still.returncode != 0) is deleted


def test_export_reimports_as_the_same_people(cli: Cli, tmp_path: Path) -> None:
    ok(cli("lists", "create", "news"))
    people = [
        ("ann@example.com", 'Ann, "the" first', {"city": "Oslo", "tags": ["a", "b"]}),
        ("bob@example.com", "Bøb\nSecond line", {}),
        ("cat@example.com", "Cat", {"score": 5, "nested": {"x": None}}),
        ("-1+1@example.com", '=HYPERLINK("http://evil.example")', {"=x": "+y"}),
    ]
    for email, name, attrs in people:
        ok(cli("subscribers", "add", "--name", name, "--attributes", json.dumps(attrs),
               "--list", "news", "--", email))  # fmt: skip
    ok(cli("subscribers", "blocklist", "bob@example.com"))
    ok(cli("subscribers", "add", "dan@example.com"))  # on no list
    out = tmp_path / "people.csv"
    assert "exported 4 subscriber(s)" in cli("subscribers", "export", "--list", "news",
                                             "-o", str(out)).stderr  # fmt: skip
    assert out.stat().st_mode & 0o077 == 0
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    asyncio.run(upgrade(fresh))
    ok(cli("subscribers", "import", str(out), url=fresh))

    def person(email: str, url: str | None) -> tuple[Any, ...]:
        found = json.loads(ok(cli("subscribers", "show", "--json", "--", email, url=url)))
        return found["email"], found["name"], found["attributes"], found["status"]

    for email, *_ in people:
        assert person(email, fresh) == person(email, None)
    refused(cli("subscribers", "show", "dan@example.com", url=fresh), "no subscriber")


def test_export_filters_and_neutralises_formula_cells(cli: Cli) -> None:
    ok(cli("subscribers", "add", "--name", '=HYPERLINK("x")', "--", "-1+1@example.com"))
    ok(cli("subscribers", "add", "bob@example.com", "--name", "@SUM(1)"))
    ok(cli("subscribers", "blocklist", "cat@example.com"))
    rows = list(csv.reader(io.StringIO(ok(cli("subscribers", "export")))))
    assert rows[0][:4] == ["email", "name", "attributes", "status"]
    assert [r[:2] for r in rows[1:]] == [
        ["'-1+1@example.com", '\'=HYPERLINK("x")'],
        ["bob@example.com", "'@SUM(1)"],
        ["cat@example.com", "Cat"],
    ]
    blocked = list(csv.reader(io.StringIO(ok(cli("subscribers", "export", "--status",
                                                 "blocklisted")))))  # fmt: skip
    assert [r[0] for r in blocked[1:]] == ["cat@example.com"]
    refused(cli("subscribers", "export", "--list", "nope"), "no list named 'nope'")


def test_export_to_a_file_with_an_unknown_list_writes_no_file(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    refused(cli("subscribers", "export", "--list", "nope", "-o", str(out)), "no list")
    assert list(tmp_path.glob("*.csv*")) == [] and list(tmp_path.glob(".x.csv*")) == []
    refused(cli("subscribers", "export", "-o", str(tmp_path / "no" / "x.csv")), "cannot write")


def test_export_data_unknown_address(cli: Cli) -> None:
    refused(cli("subscribers", "export-data", "nobody@example.com"), "no subscriber")
