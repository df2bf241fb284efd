"""Settings: precedence, validation naming the key, secrets kept secret, the SMTP env shortcut."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from campaignd.config import AuthProtocol, TlsType, load_settings, parse_duration
from campaignd.errors import ConfigError

REPO = Path(__file__).parents[2]


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_defaults_then_file_then_environment(tmp_path: Path) -> None:
    assert load_settings(env={}).app.concurrency == 10
    path = write(tmp_path, "[app]\nconcurrency = 20\nmessage_rate = 5\n")
    from_file = load_settings(path, env={})
    assert (from_file.app.concurrency, from_file.app.message_rate) == (20, 5)
    both = load_settings(path, env={"CAMPAIGND_APP__CONCURRENCY": "30"})
    assert (both.app.concurrency, both.app.message_rate) == (30, 5)


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[db]\nurl = "sqlite:////tmp/x.db"\n')
    assert load_settings(env={"CAMPAIGND_CONFIG": str(path)}).db.url == "sqlite:////tmp/x.db"


def test_the_shipped_settings_file_is_the_defaults(tmp_path: Path) -> None:
    shipped = load_settings(REPO / "settings.toml", env={})
    defaults = load_settings(env={})
    assert shipped.app == defaults.app
    assert shipped.db == defaults.db
    assert shipped.log == defaults.log


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("[app]\nconcurrency = 'many'\n", {}, "app.concurrency"),
        ('[[smtp]]\nhost = "x"\ntls_type = "SSL"\n', {}, "smtp[0].tls_type"),
        ('[[smtp]]\nhost = "x"\nport = 70000\n', {}, "smtp[0].port"),
        ('[app]\nroot_url = "ftp://x"\n', {}, "app.root_url"),
        ("", {"CAMPAIGND_APP__MESSAGE_RATE": "-1"}, "app.message_rate"),
        ('[security]\nsecret = "short"\n', {}, "security"),
        ('[app]\nretry_backoff = "soon"\n', {}, "app.retry_backoff"),
        ("[app\n", {}, "config"),
    ],
)
def test_bad_setting_names_its_key(
    tmp_path: Path, text: str, env: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env=env)
    assert info.value.key == key
    assert str(info.value).startswith(f"setting {key}:")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml", env={})


def test_secret_values_never_appear_in_errors_or_reprs(tmp_path: Path) -> None:
    password = "hunter2-very-secret"
    path = write(
        tmp_path,
        f'[security]\nsecret = "{password}"\n[[smtp]]\nhost = "x"\npassword = "{password}"\n'
        "port = 'not a port'\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert password not in str(info.value)
    ok = load_settings(write(tmp_path, f'[[smtp]]\nhost = "x"\npassword = "{password}"\n'), env={})
    assert password not in repr(ok)
    assert ok.smtp[0].password.get_secret_value() == password


def test_missing_secret_is_refused_where_needed() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={}).require_secret()
    assert info.value.key == "security.secret"


def test_secret_and_password_files(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("0123456789abcdef0123\n")
    (tmp_path / "pw").write_text("s3cret\n")
    path = write(
        tmp_path,
        f'[security]\nsecret_file = "{tmp_path / "secret"}"\n'
        f'[[smtp]]\nhost = "x"\npassword_file = "{tmp_path / "pw"}"\n',
    )
    s = load_settings(path, env={})
    assert s.require_secret() == "0123456789abcdef0123"
    assert s.smtp[0].password.get_secret_value() == "s3cret"
    with pytest.raises(ConfigError, match="password_file cannot be read"):
        load_settings(write(tmp_path, '[[smtp]]\npassword_file = "/nonexistent/pw"\n'), env={})


def test_single_smtp_server_from_environment() -> None:
    s = load_settings(
        env={
            "CAMPAIGND_SMTP_HOST": "smtp.example.com",
            "CAMPAIGND_SMTP_PORT": "465",
            "CAMPAIGND_SMTP_USERNAME": "acme/production",
            "CAMPAIGND_SMTP_PASSWORD": "pw",
            "CAMPAIGND_SMTP_TLS_TYPE": "tls",
            "CAMPAIGND_SMTP_AUTH_PROTOCOL": "LOGIN",
        }
    )
    (server,) = s.smtp
    assert (server.host, server.port, server.username) == (
        "smtp.example.com",
        465,
        "acme/production",
    )
    assert (server.tls_type, server.auth_protocol) == (TlsType.TLS, AuthProtocol.LOGIN)
    assert s.messengers() == {"email": (server,)}


def test_messengers_pool_and_named_servers(tmp_path: Path) -> None:
    s = load_settings(
        write(
            tmp_path,
            '[[smtp]]\nhost = "a"\n[[smtp]]\nhost = "b"\n'
            '[[smtp]]\nname = "tx"\nhost = "c"\n'
            '[[smtp]]\nname = "both"\nhost = "d"\nin_pool = true\n'
            '[[smtp]]\nhost = "off"\nenabled = false\n',
        ),
        env={},
    )
    by_name = {k: [x.host for x in v] for k, v in s.messengers().items()}
    assert by_name == {"email": ["a", "b", "d"], "tx": ["c"], "both": ["d"]}


@pytest.mark.parametrize(
    ("value", "seconds"), [(15, 15.0), ("10ms", 0.01), ("15s", 15.0), ("5m", 300.0), ("1h", 3600.0)]
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


def test_settings_readable_by_others_with_a_password_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, '[[smtp]]\nhost = "x"\npassword = "pw"\n', mode=0o644)
    with caplog.at_level(logging.WARNING):
        load_settings(path, env={})
    assert "readable by other users" in caplog.text
    assert "pw" not in caplog.text.replace(str(path), "")
    caplog.clear()
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        load_settings(path, env={})
    assert "readable by other users" not in caplog.text


def test_cli_exits_78_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[app]\nconcurrency = 0\n")
    result = subprocess.run(
        [sys.executable, "-m", "campaignd", "--config", str(path), "lists", "ls"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 78
    assert "app.concurrency" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
