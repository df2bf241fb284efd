"""Campaign segments through the real CLI: checked at create, counted at start and show, and
only matching list members are sent to."""

from __future__ import annotations

import json
from pathlib import Path

from tests.acceptance.helpers import Env, capture_server, free_port, make_env

PEOPLE = [
    ("ann@example.com", '{"city": "Oslo", "score": 7}'),
    ("bob@example.com", '{"city": "Bergen", "score": "9"}'),
    ("cid@example.com", '{"city": "Oslo", "score": "n/a"}'),
    ("dee@example.com", "{}"),
]


def setup(e: Env) -> Path:
    e.cli("db", "upgrade")
    e.cli("lists", "create", "news")
    e.cli("lists", "create", "other")
    for address, attributes in PEOPLE:
        e.cli("subscribers", "add", address, "--attributes", attributes, "--list", "news")
    e.cli("subscribers", "blocklist", "cid@example.com")
    body = e.root / "body.html"
    body.write_text("<p>Hello {{ subscriber.name }}</p>")
    return body


def create(e: Env, body: Path, *extra: str, check: bool = True) -> str:
    base = ["campaigns", "create", "--name", "c", "--subject", "Hi", "--list", "news"]
    return e.cli(*base, "--body-file", str(body), *extra, check=check).stdout.strip()


def test_bad_segments_are_refused_and_nothing_is_created(tmp_path: Path) -> None:
    e = make_env(tmp_path, free_port())
    body = setup(e)
    for segment, reason in (
        ('citty = "Oslo"', "--segment: invalid filter at column 1: unknown field 'citty'"),
        ("attributes.score >= 'x'", "at column 21: type mismatch"),
        ("'; DROP TABLE campaigns; --", "at column 1: string never closed"),
        ('list = "vip"', "--segment: invalid filter: no list named 'vip'"),
        ("  ", "--segment is empty"),
    ):
        result = e.cli(
            "campaigns",
            "create",
            "--name",
            "c",
            "--subject",
            "Hi",
            "--list",
            "news",
            "--body-file",
            str(body),
            "--segment",
            segment,
            check=False,
        )
        assert result.returncode == 1, segment
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert reason in lines[0]
    assert json.loads(e.cli("campaigns", "ls", "--json").stdout) == []


def test_only_matching_eligible_members_get_the_campaign(tmp_path: Path) -> None:
    port = free_port()
    e = make_env(tmp_path, port)
    body = setup(e)
    segment = 'attributes.city = "Oslo" or attributes.score >= 8'
    created = json.loads(create(e, body, "--segment", segment, "--json"))
    assert created["segment"] == segment
    # ann (Oslo) and bob (score "9"); cid matches but is blocklisted; dee matches nothing
    assert created["segment_matches"] == 2
    plain = json.loads(create(e, body, "--json"))
    assert plain["segment"] is None and plain["segment_matches"] is None
    started = e.cli("campaigns", "start", str(created["id"])).stdout
    assert "segment: 2 eligible subscribers on its lists match" in started
    with capture_server(port, e.mail):
        e.cli("run", "--until-idle")
    assert sorted(e.received()) == ["ann@example.com", "bob@example.com"]
    shown = e.show(str(created["id"]))
    assert shown["status"] == "finished"
    assert (shown["to_send"], shown["sent"]) == (2, 2)
    assert "segment_matches: 2" in e.cli("campaigns", "show", str(created["id"])).stdout
