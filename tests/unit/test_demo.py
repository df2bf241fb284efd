"""`make demo` finds its sample files and writes settings that load."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaignd.config import load_settings
from campaignd.devtools import demo


@pytest.mark.parametrize("name", ["subscribers.csv", "layout.html", "newsletter.md"])
def test_the_demo_samples_are_where_the_demo_looks(name: str) -> None:
    assert (demo.SAMPLES / name).is_file(), demo.SAMPLES / name


def test_the_demo_settings_load(tmp_path: Path) -> None:
    config = demo._write_settings(tmp_path, [2525, 2526])
    settings = load_settings(config, env={})
    assert [s.port for s in settings.smtp] == [2525, 2526]
    assert str(tmp_path / "campaignd.db") in settings.db.url
    assert config.stat().st_mode & 0o777 == 0o600
