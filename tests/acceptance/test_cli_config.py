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


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campaignd", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_after_the_subcommand(tmp_path: Path) -> None:
    config = str(settings(tmp_path, ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    assert _run(env, "db", "upgrade", "--config", config).returncode == 0
    assert (tmp_path / "c.db").exists()
    result = _run(env, "lists", "create", "news", "--config", config)
    assert result.returncode == 0, result.stderr
    result = _run(env, "lists", "ls", "--json", "--config", config)
    assert result.returncode == 0, result.stderr
    assert '"name": "news"' in result.stdout
    # Nested: a group's subcommand with an argument, and an option on the group itself.
    result = _run(env, "campaigns", "show", "1", "--config", config)
    assert result.returncode == 1, result.stderr
    assert result.stderr == "error: no campaign 1\n"
    result = _run(env, "subscribers", "import", str(tmp_path / "none.csv"), "--config", config)
    assert "No such option" not in result.stderr, result.stderr
    assert _run(env, "lists", "--config", config, "ls").returncode == 0


def test_config_on_the_command_line_wins_over_the_environment(tmp_path: Path) -> None:
    config = str(settings(tmp_path, ""))
    other = tmp_path / "other"
    other.mkdir()
    wrong = settings(other, "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    env["CAMPAIGND_CONFIG"] = str(wrong)
    assert _run(env, "db", "upgrade", "--config", config).returncode == 0
    assert (tmp_path / "c.db").exists()
    assert not (other / "c.db").exists()
    assert _run(env, "db", "upgrade").returncode == 0  # the environment alone is used
    assert (other / "c.db").exists()


def test_config_given_twice_with_different_files_is_refused(tmp_path: Path) -> None:
    config = str(settings(tmp_path, ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    result = _run(env, "--config", config, "db", "upgrade", "--config", str(tmp_path / "b.toml"))
    assert result.returncode == 2
    assert "--config given twice" in result.stderr, result.stderr
    assert not (tmp_path / "c.db").exists()
    result = _run(env, "--config", config, "db", "upgrade", "--config", config)
    assert result.returncode == 0, result.stderr


def test_a_misspelt_key_gets_did_you_mean_and_exit_78(tmp_path: Path) -> None:
    result = campaignd(settings(tmp_path, "[app]\nmesage_rate = 5\n"), "lists", "ls")
    assert result.returncode == 78
    assert result.stderr.strip() == (
        "error: unknown setting app.mesage_rate (did you mean app.message_rate?)"
    )
    smtp = campaignd(settings(tmp_path, '[smtp]\nhost = "x"\n'), "lists", "ls")
    assert smtp.returncode == 78
    assert "write [[smtp]] (two brackets)" in smtp.stderr
