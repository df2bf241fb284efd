"""`make demo` finds its sample files and writes settings that load."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from campaignd.config import load_settings
from campaignd.devtools import demo


@pytest.mark.parametrize("name", ["subscribers.csv", "layout.html", "newsletter.md"])
def test_the_demo_samples_are_where_the_demo_looks(name: str) -> None:
    assert (demo.SAMPLES / name).is_file(), demo.SAMPLES / name


def test_the_demo_settings_load(tmp_path: Path) -> None:
    config = demo._write_settings(tmp_path, [2525, 2526], 9190)
    settings = load_settings(config, env={})
    assert [s.port for s in settings.smtp] == [2525, 2526]
    assert str(tmp_path / "campaignd.db") in settings.db.url
    assert config.stat().st_mode & 0o777 == 0o600


def test_the_demo_settings_serve_the_dashboard(tmp_path: Path) -> None:
    settings = load_settings(demo._write_settings(tmp_path, [2525, 2526], 9190), env={})
    assert (settings.api.enabled, settings.api.listen) == (True, "127.0.0.1:9190")
    assert settings.security.secret.get_secret_value()  # the session cookie needs it


@pytest.mark.parametrize(
    ("tty", "value", "expected"),
    [
        (False, None, None),  # CI, a pipe: the demo ends as it always did
        (True, None, math.inf),  # a terminal: until Ctrl-C
        (False, "", None),
        (False, "yes", math.inf),
        (True, "no", None),
        (True, "0", None),
        (False, " 2.5 ", 2.5),
    ],
)
def test_when_the_demo_keeps_serving(tty: bool, value: str | None, expected: float | None) -> None:
    assert demo.serve_for(tty, value) == expected


@pytest.mark.parametrize("value", ["maybe", "-1", "inf", "nan"])
def test_a_bad_demo_serve_value_is_named(value: str) -> None:
    with pytest.raises(
        SystemExit, match=f"DEMO_SERVE must be yes, no or a number of seconds, got {value!r}"
    ):
        demo.serve_for(True, value)
