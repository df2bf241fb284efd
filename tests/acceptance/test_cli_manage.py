"""Managing lists, templates and campaigns through the real CLI: change, copy, delete, refusals."""

from __future__ import annotations

import json
from pathlib import Path

from tests.acceptance.helpers import Env, free_port, make_env


def setup(e: Env, subscribers: int = 2) -> str:
    e.cli("db", "upgrade")
    e.cli("lists", "create", "news")
    e.cli("lists", "create", "empty")
    rows = "".join(f"user{i}@example.com,User {i}\n" for i in range(subscribers))
    (e.root / "subs.csv").write_text("email,name\n" + rows)
    e.cli("subscribers", "import", str(e.root / "subs.csv"), "--list", "news")
    (e.root / "body.html").write_text("<p>Hello {{ subscriber.name }}</p>")
    (e.root / "layout.html").write_text("<main>{{ content }}</main>")
    e.cli("templates", "add", "main", "--file", str(e.root / "layout.html"))
    return e.cli(
        "campaigns", "create", "--name", "c", "--subject", "Hi", "--list", "news",
        "--body-file", str(e.root / "body.html"), "--template", "main",
    ).stdout.strip()  # fmt: skip


def refused(e: Env, *args: str, says: str) -> None:
    result = e.cli(*args, check=False)
    assert result.returncode == 1, (args, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert says in lines[0], lines[0]


def test_lists_update_and_delete(tmp_path: Path) -> None:
    e = make_env(tmp_path, free_port())
    campaign_id = setup(e)
    refused(e, "lists", "create", "NEWS", says="list 'news' already exists")
    refused(e, "lists", "update", "empty", "--name", "News", says="already exists")
    refused(e, "lists", "update", "nope", "--name", "x", says="no list named 'nope'")
    refused(e, "lists", "update", "empty", says="nothing to change")
    refused(e, "lists", "delete", "news", says=f"used by campaign(s) {campaign_id} 'c' (draft)")
    refused(e, "lists", "delete", "empty", says="add --yes")  # no terminal to ask
    updated = json.loads(
        e.cli("lists", "update", "empty", "--name", "Weekly", "--optin", "double", "--json").stdout
    )
    assert (updated["name"], updated["optin"]) == ("Weekly", "double")
    listed = [m["name"] for m in json.loads(e.cli("lists", "ls", "--json").stdout)]
    assert listed == ["news", "Weekly"]
    assert "deleted list 'Weekly'" in e.cli("lists", "delete", "Weekly", "--yes").stdout

    e.cli("campaigns", "cancel", campaign_id)  # a cancelled campaign does not hold the list
    e.cli("lists", "delete", "news", "--yes")
    assert json.loads(e.cli("lists", "ls", "--json").stdout) == []
    shown = json.loads(e.cli("subscribers", "show", "user0@example.com", "--json").stdout)
    assert shown["subscriptions"] == []


def test_templates_update_show_and_rm(tmp_path: Path) -> None:
    e = make_env(tmp_path, free_port())
    campaign_id = setup(e)
    new = tmp_path / "new.html"
    new.write_text("<section>{{ content }}</section>\n")
    bad = tmp_path / "bad.html"
    bad.write_text("<section>{{ content }}\n{% if %}</section>")
    refused(e, "templates", "update", "main", "--file", str(bad), says="line 2")
    bad.write_text("<section>no content</section>")
    refused(e, "templates", "update", "main", "--file", str(bad), says="{{ content }}")
    bad.write_bytes(b"\xff\xfe{{ content }}")
    refused(e, "templates", "update", "main", "--file", str(bad), says="not UTF-8")
    refused(e, "templates", "update", "nope", "--file", str(new), says="no template named")
    assert e.cli("templates", "show", "main").stdout == "<main>{{ content }}</main>"
    e.cli("templates", "update", "main", "--file", str(new))
    shown = json.loads(e.cli("templates", "show", "main", "--json").stdout)
    assert (shown["name"], shown["body"]) == ("main", new.read_text())
    assert shown["updated_at"] >= shown["created_at"]
    preview = e.cli("campaigns", "preview", campaign_id).stdout
    assert "<section>" in preview  # the campaign uses the new layout
    refused(e, "templates", "rm", "main", says=f"used by campaign(s) {campaign_id} 'c' (draft)")
    refused(e, "templates", "show", "nope", says="no template named 'nope'")
    e.cli("campaigns", "update", campaign_id, "--template", "")
    assert "removed template 'main'" in e.cli("templates", "rm", "main").stdout
    assert json.loads(e.cli("templates", "ls", "--json").stdout) == []


def test_campaigns_update_clone_delete(tmp_path: Path) -> None:
    e = make_env(tmp_path, free_port())
    campaign_id = setup(e)
    before = e.show(campaign_id)
    bad = tmp_path / "bad.html"
    bad.write_text("<p>{% for x in %}</p>")
    for args, says in (
        (["--body-file", str(bad)], "line 1"),
        (["--list", "nope"], "no list named 'nope'"),
        (["--messenger", "x"], "unknown messenger"),
        (["--header", "Bcc: a@b.example"], "Bcc"),
        (["--template", "nope"], "no template named 'nope'"),
        (["--send-at", "2001-01-01T00:00:00Z"], "is in the past"),
        (["--send-at", "tomorrow"], "not an ISO-8601 time"),
        (["--body", "x", "--body-file", str(bad)], "not both"),
        ([], "nothing to change"),
    ):
        refused(e, "campaigns", "update", campaign_id, *args, says=says)
    refused(e, "campaigns", "update", "99", "--subject", "x", says="no campaign 99")
    assert e.show(campaign_id) == before  # nothing changed

    updated = json.loads(
        e.cli(
            "campaigns", "update", campaign_id, "--subject", "Fixed", "--list", "news",
            "--list", "empty", "--header", "X-Kind: {{ campaign.name }}", "--json",
        ).stdout
    )  # fmt: skip
    assert (updated["subject"], updated["list_names"]) == ("Fixed", ["news", "empty"])
    preview = e.cli("campaigns", "preview", campaign_id).stdout
    assert "Subject: Fixed" in preview and "X-Kind: c" in preview

    copy_id = e.cli("campaigns", "clone", campaign_id).stdout.strip()
    copy = e.show(copy_id)
    assert (copy["name"], copy["status"], copy["subject"]) == ("Copy of c", "draft", "Fixed")
    named = json.loads(e.cli("campaigns", "clone", campaign_id, "--name", "B", "--json").stdout)
    assert named["name"] == "B"

    e.cli("campaigns", "schedule", campaign_id, "--send-at", "2099-01-01T09:00:00Z")
    e.cli("campaigns", "update", campaign_id, "--send-at", "2099-02-01T09:00:00Z")
    assert e.show(campaign_id)["send_at"] == "2099-02-01T09:00:00+00:00"
    refused(e, "campaigns", "delete", campaign_id, "--yes", says="it is scheduled")
    e.cli("campaigns", "start", campaign_id)
    refused(e, "campaigns", "update", campaign_id, "--subject", "x", says="it is running")
    refused(e, "campaigns", "delete", campaign_id, "--yes", says="it is running")
    e.cli("campaigns", "cancel", campaign_id)
    refused(e, "campaigns", "delete", campaign_id, says="add --yes")
    e.cli("campaigns", "delete", campaign_id, "--yes")
    e.cli("campaigns", "cancel", copy_id)  # cancel works on a draft
    assert e.show(copy_id)["status"] == "cancelled"
    e.cli("campaigns", "delete", copy_id, "--yes")
    listed = json.loads(e.cli("campaigns", "ls", "--json").stdout)
    assert [c["name"] for c in listed] == ["B"]
    refused(e, "campaigns", "delete", campaign_id, "--yes", says=f"no campaign {campaign_id}")


def test_start_and_schedule_check_the_audience_and_the_time(tmp_path: Path) -> None:
    e = make_env(tmp_path, free_port())
    campaign_id = setup(e)
    e.cli("campaigns", "update", campaign_id, "--list", "empty")
    refused(e, "campaigns", "start", campaign_id, says="(empty) have 0 eligible subscribers")
    refused(
        e, "campaigns", "schedule", campaign_id, "--send-at", "2099-01-01T00:00:00Z",
        says="0 eligible subscribers",
    )  # fmt: skip
    e.cli("campaigns", "update", campaign_id, "--list", "news")
    refused(
        e, "campaigns", "schedule", campaign_id, "--send-at", "2001-01-01T00:00:00Z",
        says="is in the past",
    )  # fmt: skip
    refused(
        e, "campaigns", "create", "--name", "p", "--subject", "s", "--list", "news",
        "--body-file", str(e.root / "body.html"), "--send-at", "2001-01-01T00:00:00Z",
        says="is in the past",
    )  # fmt: skip
    assert e.show(campaign_id)["status"] == "draft"
    out = e.cli("campaigns", "schedule", campaign_id, "--now").stdout
    assert f"campaign {campaign_id} is running" in out
