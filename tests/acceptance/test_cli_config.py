"""Settings that would inject headers or send a password in clear stop every command (exit 78)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def campaignd(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    return subprocess.run(
        [sys.executable, "-m", "campaignd", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(f'[db]\nurl = "sqlite:///{tmp_path / "c.db"}"\n' + text)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (
            '[app]\nroot_url = "https://news.example.com\\r\\nBcc: victim@example.org"\n',
            "app.root_url",
            "line breaks or control characters",
        ),
        (
            '[app]\nroot_url = "https://user:pw@news.example.com"\n',
            "app.root_url",
            "user name or password",
        ),
        (
            '[app]\nunsubscribe_mailto = "u@example.org\\r\\nBcc: victim@example.org"\n',
            "app.unsubscribe_mailto",
            "line break",
        ),
        (
            '[[smtp]]\nname = "relay"\nhost = "smtp.example.com"\ntls_type = "none"\n'
            'auth_protocol = "plain"\nusername = "acme"\npassword = "pw-123456"\n',
            "smtp[0]",
            "server relay would send its password in clear text",
        ),
    ],
)
def test_refused_at_load_with_exit_78(tmp_path: Path, text: str, key: str, words: str) -> None:
    config = settings(tmp_path, text)
    for args in (["lists", "ls"], ["db", "upgrade"], ["messengers", "ls"]):
        result = campaignd(config, *args)
        assert result.returncode == 78, (args, result.stderr)
        assert result.stderr.startswith(f"error: setting {key}:"), result.stderr
        assert words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "pw-123456" not in result.stderr
    assert not (tmp_path / "c.db").exists()  # nothing was done


def test_plaintext_auth_with_the_explicit_opt_in_loads(tmp_path: Path) -> None:
    config = settings(
        tmp_path,
        '[[smtp]]\nname = "relay"\nhost = "smtp.example.com"\ntls_type = "none"\n'
        'auth_protocol = "plain"\nusername = "acme"\nallow_plaintext_auth = true\n',
    )
    result = campaignd(config, "messengers", "ls", "--json")
    assert result.returncode == 0, result.stderr
    assert '"allow_plaintext_auth": true' in result.stdout
