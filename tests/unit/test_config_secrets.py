"""security.previous_secrets and previous_secret_files: verify-only secrets for a rotation."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaignd.config import load_settings
from campaignd.errors import ConfigError

NEW, OLD, OLDER = "new-secret-0123456789", "old-secret-0123456789", "older-secret-0123456789"


def test_previous_secrets_from_the_file_files_and_environment(tmp_path: Path) -> None:
    older = tmp_path / "older"
    older.write_text(OLDER + "\n")
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[security]\nsecret = "{NEW}"\nprevious_secrets = ["{OLD}", "{NEW}"]\n'
        f'previous_secret_files = ["{older}"]\n'
    )
    settings = load_settings(path, env={})
    assert settings.require_secret() == NEW
    assert settings.previous_secrets() == (OLD, OLDER)  # the current one is not repeated
    assert OLD not in repr(settings) and OLDER not in repr(settings)
    env = {
        "CAMPAIGND_SECURITY__SECRET": NEW,
        "CAMPAIGND_SECURITY__PREVIOUS_SECRETS": f"{OLD},{OLDER}",
    }
    assert load_settings(None, env=env).previous_secrets() == (OLD, OLDER)


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ('previous_secrets = ["short"]', "security.previous_secrets", "at least 16"),
        ('previous_secret_files = ["/nonexistent/old"]', "security", "previous_secret_files"),
    ],
)
def test_bad_previous_secrets_name_the_key(
    tmp_path: Path, body: str, key: str, problem: str
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(f'[security]\nsecret = "{NEW}"\n{body}\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert "short" not in str(caught.value)
