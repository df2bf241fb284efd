"""[[smtp]] email_headers in listmonk's form [{"X-Foo" = "bar"}] (docs/providers.md), the
table form and the name/value form all load the same headers; hostile ones stay refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaignd.config import load_settings
from campaignd.errors import ConfigError


def headers_of(tmp_path: Path, line: str) -> list[tuple[str, str]]:
    path = tmp_path / "settings.toml"
    path.write_text(f'[[smtp]]\nhost = "x"\n{line}\n')
    return [(h.name, h.value) for h in load_settings(path, env={}).smtp[0].email_headers]


EXPECTED = [("X-PM-Message-Stream", "broadcast"), ("X-PM-Tag", "news")]


@pytest.mark.parametrize(
    "line",
    [
        # listmonk's settings: a list of one-header tables
        'email_headers = [{"X-PM-Message-Stream" = "broadcast"}, {"X-PM-Tag" = "news"}]',
        # one table holding several (also accepted inside the list)
        'email_headers = [{"X-PM-Message-Stream" = "broadcast", "X-PM-Tag" = "news"}]',
        'email_headers = {"X-PM-Message-Stream" = "broadcast", "X-PM-Tag" = "news"}',
        'email_headers = [{name = "X-PM-Message-Stream", value = "broadcast"}, '
        '{name = "X-PM-Tag", value = "news"}]',
    ],
)
def test_every_documented_form_gives_the_same_headers(tmp_path: Path, line: str) -> None:
    assert headers_of(tmp_path, line) == EXPECTED


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('email_headers = [{"X-Tag" = "a\\r\\nBcc: v@example.org"}]', "email_headers[0].value"),
        ('email_headers = [{"X-Ok" = "1"}, {"X-Tag" = "a\\nb"}]', "email_headers[1].value"),
        ('email_headers = [{"X-Tag\\r\\nBcc" = "v"}]', "email_headers[0].name"),
        ('email_headers = [{"X-Tägg" = "v"}]', "email_headers[0].name"),
        ('email_headers = [{"X Tag" = "v"}]', "email_headers[0].name"),
        ('email_headers = [{"X-Tag" = 5}]', "email_headers[0].value"),
        ('email_headers = ["X-Tag: v"]', "email_headers[0]"),
    ],
)
def test_hostile_headers_in_the_listmonk_form_are_refused(
    tmp_path: Path, line: str, key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        headers_of(tmp_path, line)
    assert info.value.key == f"smtp[0].{key}"
