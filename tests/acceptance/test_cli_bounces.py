"""Bounces made visible: `bounces ls`, the counts in `campaigns show` and a person's bounces in
`subscribers show`, through the real CLI on SQLite; bad input refused with one line."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from campaignd.store.sql import SqlStore
from tests.acceptance.helpers import Env, free_port, make_env

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


async def _record(url: str, rows: list[tuple[str, int | None, str, str, str, int]]) -> None:
    store = await SqlStore.open(url)
    try:
        for email, campaign_id, kind, source, reason, minute in rows:
            found = await store.get_subscriber(email)
            at = T0 + dt.timedelta(minutes=minute)
            await store.add_bounce(found.id, campaign_id, kind, source, reason, at)
    finally:
        await store.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    """One database for the module: every test only reads it."""
    tmp_path = tmp_path_factory.mktemp("bounces")
    e = make_env(tmp_path, free_port())
    e.cli("db", "upgrade")
    e.cli("lists", "create", "news")
    for address in ("ann@example.com", "bob@example.com", "cid@example.com"):
        e.cli("subscribers", "add", address, "--list", "news")
    body = tmp_path / "body.md"
    body.write_text("# Hello\n")
    for name in ("spring", "summer"):
        e.cli("campaigns", "create", "--name", name, "--subject", "s", "--list", "news",
              "--body-file", str(body))  # fmt: skip
    asyncio.run(
        _record(
            f"sqlite:///{tmp_path / 'c.db'}",
            [
                ("ann@example.com", 1, "soft", "smtp", "452 4.2.2 mailbox full", 1),
                ("bob@example.com", 1, "hard", "mail", "550 5.1.1 no such user\x1b[2J", 2),
                ("ann@example.com", 2, "complaint", "ses", "abuse", 3),
                ("ann@example.com", None, "hard", "postmark", "gone", 4),
            ],
        )
    )
    return e


def test_bounces_ls_lists_newest_first_and_filters(env: Env) -> None:
    rows = json.loads(env.cli("bounces", "ls", "--json").stdout)
    assert [(r["email"], r["kind"], r["campaign_id"]) for r in rows] == [
        ("ann@example.com", "hard", None),
        ("ann@example.com", "complaint", 2),
        ("bob@example.com", "hard", 1),
        ("ann@example.com", "soft", 1),
    ]
    assert set(rows[0]) == {
        "id", "subscriber_id", "email", "campaign_id", "campaign_name", "kind", "source",
        "reason", "created_at",
    }  # fmt: skip
    assert rows[1]["campaign_name"] == "summer"
    assert rows[3]["created_at"] == "2026-03-01T12:01:00+00:00"
    spring = json.loads(env.cli("bounces", "ls", "--campaign", "1", "--json").stdout)
    assert [r["email"] for r in spring] == ["bob@example.com", "ann@example.com"]
    ann = json.loads(env.cli("bounces", "ls", "--email", "ANN@example.com", "--json").stdout)
    assert [r["kind"] for r in ann] == ["hard", "complaint", "soft"]
    both = json.loads(
        env.cli("bounces", "ls", "--campaign", "1", "--email", "ann@example.com", "--json").stdout
    )
    assert [r["reason"] for r in both] == ["452 4.2.2 mailbox full"]
    limited = json.loads(env.cli("bounces", "ls", "--limit", "1", "--json").stdout)
    assert [r["source"] for r in limited] == ["postmark"]

    table = env.cli("bounces", "ls", "--campaign", "1").stdout
    lines = table.splitlines()
    assert lines[0].split() == ["BOUNCED", "EMAIL", "KIND", "CAMPAIGN", "SOURCE", "REASON"]
    assert "spring (#1)" in lines[1] and "550 5.1.1 no such user" in lines[1]
    assert "\x1b" not in table  # a remote server's text cannot drive the terminal


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--campaign", "99"), "error: no campaign 99"),
        (("--email", "nobody@example.com"), "error: no subscriber nobody@example.com"),
        (("--email", "ann@example.com\r\nx"), "error: --email: an address has no control"),
        (("--limit", "0"), "error: --limit must be between 1 and 100000, not 0"),
        (("--campaign", "x"), "Invalid value for '--campaign'"),
    ],
)
def test_bounces_ls_refuses_bad_input_in_one_line(
    env: Env, args: tuple[str, ...], words: str
) -> None:
    result = env.cli("bounces", "ls", *args, check=False)
    assert result.returncode != 0
    assert words in result.stderr
    assert result.stdout == ""


def test_campaigns_show_counts_bounces_by_kind(env: Env) -> None:
    assert env.show("1")["bounces"] == {"hard": 1, "soft": 1, "complaint": 0}
    assert env.show("2")["bounces"] == {"hard": 0, "soft": 0, "complaint": 1}
    listed = json.loads(env.cli("campaigns", "ls", "--json").stdout)
    assert [c["bounces"]["hard"] for c in listed] == [1, 0]
    human = env.cli("campaigns", "show", "1").stdout
    assert "bounces: hard 1, soft 1, complaint 0" in human


def test_subscribers_show_lists_the_persons_bounces(env: Env) -> None:
    shown = json.loads(env.cli("subscribers", "show", "ann@example.com", "--json").stdout)
    assert [(b["kind"], b["campaign_name"], b["reason"]) for b in shown["bounces"]] == [
        ("hard", None, "gone"),
        ("complaint", "summer", "abuse"),
        ("soft", "spring", "452 4.2.2 mailbox full"),
    ]
    human = env.cli("subscribers", "show", "ann@example.com").stdout
    assert "complaint  summer (#2)" in human
    assert "452 4.2.2 mailbox full" in human
    none = env.cli("subscribers", "show", "cid@example.com").stdout
    assert "bounces: none recorded" in none
    assert (
        json.loads(env.cli("subscribers", "show", "cid@example.com", "--json").stdout)["bounces"]
        == []
    )
