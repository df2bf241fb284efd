"""The SMTP examples in settings.toml are valid settings and build messengers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from campaignd.config import load_settings
from campaignd.messengers.registry import build_messengers, close_messengers

SETTINGS = Path(__file__).parents[2] / "settings.toml"
_TOML_LINE = re.compile(r"^# ([a-z_]+ = .*?)(?:\s+#.*)?$")


def examples() -> list[str]:
    """Each commented [[smtp]] block of the SMTP section, uncommented."""
    text = SETTINGS.read_text().split("# ==== SMTP servers", 1)[1]
    blocks: list[str] = []
    for chunk in text.split("# [[smtp]]")[1:]:
        lines = ["[[smtp]]"]
        for line in chunk.splitlines()[1:]:
            m = _TOML_LINE.match(line)
            if m is None:
                if line.startswith("#  ") or not line.startswith("# "):
                    continue
                break
            if not m.group(1).startswith("password_file"):  # the example paths do not exist
                lines.append(m.group(1))
        if not any(line.startswith("password =") for line in lines):
            lines.append('password = "example"')
        blocks.append("\n".join(lines))
    return blocks


def test_there_are_examples_for_every_seed_provider() -> None:
    text = "\n".join(examples())
    for host in ("postmarkapp", "ark", "amazonaws", "sendgrid", "mailgun", "127.0.0.1"):
        assert host in text


@pytest.mark.parametrize("block", examples())
async def test_example_loads_and_builds(block: str, tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(block + "\n")
    path.chmod(0o600)
    settings = load_settings(path, env={})
    assert len(settings.smtp) == 1
    messengers = build_messengers(settings)
    try:
        assert messengers
    finally:
        await close_messengers(messengers)


def test_settings_toml_itself_loads() -> None:
    load_settings(SETTINGS, env={})
