"""Settings an attacker or a slip could abuse: header/URL values, clear AUTH, shared secrets."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pytest

from campaignd.config import load_settings
from campaignd.config.checks import is_loopback, secrets_in
from campaignd.errors import ConfigError


def write(tmp_path: Path, text: str, mode: int = 0o600, name: str = "settings.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def refused(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env=env or {})
    return info.value


# -- app.root_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://x\r\nBcc: victim@example.org",
        "https://news.example.com\nBcc: victim@example.org",
        "https://news.example.com/\r\n",
        "https://news.example.com\t",
        "https://news .example.com",
        "https://news.example.com/a b",
        "https://news.example.com\x00",
        "https://news.example.com\u2028x",
        "https://news.example.com\u0085",
        "https://user:pw@news.example.com",
        "https://news.example.com@evil.example",
        "https://news.example.com/?a=1",
        "https://news.example.com/#top",
        "https://news.example.com/a>b",
        'https://news.example.com/"',
        "https://news.example.com:99999",
        "https://news.example.com:port",
        "https://bad_host.example",
        "https://ünï.example",
        "https:///path",
        "https://",
        "http:news.example.com",
        "ftp://news.example.com",
        "javascript://news.example.com",
    ],
)
def test_root_url_is_strict(tmp_path: Path, url: str) -> None:
    error = refused(tmp_path, f"[app]\nroot_url = {_toml(url)}\n")
    assert error.key == "app.root_url"
    assert "\r" not in str(error) and "\n" not in str(error)


def test_root_url_from_the_environment_is_checked_too() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={"CAMPAIGND_APP__ROOT_URL": "https://x.example\r\nBcc: v@example.org"})
    assert info.value.key == "app.root_url"


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://news.example.com/", "https://news.example.com"),
        ("http://localhost:9000", "http://localhost:9000"),
        ("https://news.example.com/campaignd/", "https://news.example.com/campaignd"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("https://[::1]:8443/mail", "https://[::1]:8443/mail"),
        ("https://xn--fa-hia.de", "https://xn--fa-hia.de"),
        ("HTTPS://News.Example.com", "HTTPS://News.Example.com"),
    ],
)
def test_good_root_urls(tmp_path: Path, url: str, kept: str) -> None:
    assert (
        load_settings(write(tmp_path, f"[app]\nroot_url = {_toml(url)}\n"), env={}).app.root_url
        == kept
    )


# -- every other value that reaches a header or an SMTP command --------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[app]\nfrom_email = "News <n@example.org>\\r\\nBcc: v@example.org"\n', "app.from_email"),
        ('[app]\nfrom_email = "News\\u0000 <n@example.org>"\n', "app.from_email"),
        (
            '[app]\nunsubscribe_mailto = "u@example.org\\nBcc: v@example.org"\n',
            "app.unsubscribe_mailto",
        ),
        (
            '[app]\nmessage_id_domain = "example.org\\r\\nBcc: v@example.org"\n',
            "app.message_id_domain",
        ),
        (
            '[[smtp]]\nhello_hostname = "me\\r\\nRCPT TO:<v@example.org>"\n',
            "smtp[0].hello_hostname",
        ),
        ('[[smtp]]\nhello_hostname = "me\\u0085x"\n', "smtp[0].hello_hostname"),
        (
            '[[smtp]]\nhost = "a"\n[[smtp]]\n'
            'email_headers = { "X-Tag" = "a\\r\\nBcc: v@example.org" }\n',
            "smtp[1].email_headers[0].value",
        ),
        (
            '[[smtp]]\nemail_headers = { "X-Tag" = "bell\\u0007" }\n',
            "smtp[0].email_headers[0].value",
        ),
        ('[[smtp]]\nemail_headers = { "X-Tag\\r\\nBcc" = "v" }\n', "smtp[0].email_headers[0].name"),
        ('[[smtp]]\nemail_headers = { "X Tag" = "v" }\n', "smtp[0].email_headers[0].name"),
        (
            '[[smtp]]\nemail_headers = [{ name = "X-Tag:", value = "v" }]\n',
            "smtp[0].email_headers[0].name",
        ),
    ],
)
def test_header_bound_settings_refuse_line_breaks_at_load(
    tmp_path: Path, text: str, key: str
) -> None:
    assert refused(tmp_path, text).key == key


def test_header_bound_settings_from_the_environment() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={"CAMPAIGND_APP__FROM_EMAIL": "n@example.org\r\nBcc: v@example.org"})
    assert info.value.key == "app.from_email"


def test_header_values_keep_tabs_and_unicode(tmp_path: Path) -> None:
    s = load_settings(
        write(tmp_path, '[[smtp]]\nemail_headers = { "X-Tag" = "a\\tb", "X-Name" = "Ünï" }\n'),
        env={},
    )
    assert [(h.name, h.value) for h in s.smtp[0].email_headers] == [
        ("X-Tag", "a\tb"),
        ("X-Name", "Ünï"),
    ]


# -- AUTH over a plain connection ---------------------------------------------------------------

PLAIN_AUTH = 'host = "{host}"\ntls_type = "none"\nauth_protocol = "login"\nusername = "u"\n'


@pytest.mark.parametrize("host", ["smtp.example.com", "10.0.0.5", "::2", "localhost.example.com"])
def test_auth_over_plain_tcp_to_a_remote_server_is_refused(tmp_path: Path, host: str) -> None:
    error = refused(tmp_path, '[[smtp]]\nname = "relay"\n' + PLAIN_AUTH.format(host=host))
    assert error.key == "smtp[0]"
    assert "relay" in error.problem
    assert "allow_plaintext_auth" in error.problem


def test_auth_over_plain_tcp_needs_an_explicit_opt_in(tmp_path: Path) -> None:
    text = "[[smtp]]\n" + PLAIN_AUTH.format(host="smtp.example.com")
    s = load_settings(write(tmp_path, text + "allow_plaintext_auth = true\n"), env={})
    assert s.smtp[0].allow_plaintext_auth


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1"]
)
def test_loopback_servers_may_use_auth_without_tls(tmp_path: Path, host: str) -> None:
    text = "[[smtp]]\n" + PLAIN_AUTH.format(host=host)
    assert load_settings(write(tmp_path, text), env={}).smtp[0].username == "u"


@pytest.mark.parametrize(
    "extra",
    [
        'host = "smtp.example.com"\ntls_type = "none"\nauth_protocol = "none"\nusername = "u"\n',
        'host = "smtp.example.com"\ntls_type = "none"\n',  # no username: no AUTH is sent
        'host = "smtp.example.com"\ntls_type = "STARTTLS"\nusername = "u"\n',
        'host = "smtp.example.com"\ntls_type = "TLS"\nusername = "u"\n',
    ],
)
def test_no_clear_text_auth_no_refusal(tmp_path: Path, extra: str) -> None:
    assert load_settings(write(tmp_path, "[[smtp]]\n" + extra), env={}).smtp


def test_the_environment_shortcut_is_checked_and_can_opt_in() -> None:
    env = {
        "CAMPAIGND_SMTP_HOST": "smtp.example.com",
        "CAMPAIGND_SMTP_USERNAME": "u",
        "CAMPAIGND_SMTP_TLS_TYPE": "none",
        "CAMPAIGND_SMTP_AUTH_PROTOCOL": "plain",
    }
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    assert info.value.key == "smtp[0]"
    ok = load_settings(env={**env, "CAMPAIGND_SMTP_ALLOW_PLAINTEXT_AUTH": "true"})
    assert ok.smtp[0].allow_plaintext_auth


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost.", True),
        ("128.0.0.1", False),
        ("[::2]", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# -- secrets in files that others may read ----------------------------------------------------

SECRET = "s3cr3t-value-never-logged"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f'[db]\nurl = "postgresql://mail:{SECRET}@db.example/campaignd"\n', "db.url"),
        (f'[bounces]\nsendgrid_password = "{SECRET}"\n', "bounces.sendgrid_password"),
        (f'[bounces]\npostmark_password = "{SECRET}"\n', "bounces.postmark_password"),
        (f'[security]\nsecret = "{SECRET}"\n', "security.secret"),
        (f'[[smtp]]\nhost = "a"\n[[smtp]]\npassword = "{SECRET}"\n', "smtp[1].password"),
    ],
)
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_settings_file_with_a_secret_readable_by_others_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, key: str, mode: int
) -> None:
    path = write(tmp_path, text, mode)
    with caplog.at_level(logging.WARNING):
        load_settings(path, env={})
        load_settings(path, env={})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(path) in warnings[0]
    assert f"mode {mode:04o}" in warnings[0]
    assert key in warnings[0]
    assert "chmod 600" in warnings[0]
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    "text",
    [
        '[db]\nurl = "postgresql://mail@db.example/campaignd"\n',  # no password in the URL
        '[bounces]\nsendgrid_username = "hooks"\n',
        '[security]\nsecret_file = "/run/credentials/secret"\n',
    ],
)
def test_no_secret_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str) -> None:
    # The secret_file does not exist here (a ConfigError); only the warning matters.
    with caplog.at_level(logging.WARNING), contextlib.suppress(ConfigError):
        load_settings(write(tmp_path, text, 0o644), env={})
    assert "readable by other users" not in caplog.text


def test_secret_and_password_files_readable_by_others_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = write(tmp_path, "0123456789abcdef0123\n", 0o644, name="secret")
    password = write(tmp_path, f"{SECRET}\n", 0o640, name="pw")
    settings = write(
        tmp_path,
        f'[security]\nsecret_file = "{secret}"\n[[smtp]]\npassword_file = "{password}"\n',
    )
    with caplog.at_level(logging.WARNING):
        load_settings(settings, env={})
    assert f"{secret} holds the signing secret" in caplog.text
    assert "mode 0644" in caplog.text
    assert f"{password} holds an SMTP password" in caplog.text
    assert "mode 0640" in caplog.text
    assert SECRET not in caplog.text
    caplog.clear()
    secret.chmod(0o400)
    password.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        load_settings(settings, env={})
    assert "readable by other users" not in caplog.text


def test_secrets_in_names_keys_only() -> None:
    tree = {
        "db": {"url": "postgresql://u:p@h/d"},
        "security": {"secret": "x", "previous_secrets": ["y"], "secret_file": "/f"},
        "smtp": [{"password": ""}, {"password": "p", "password_file": "/f"}],
    }
    assert secrets_in(tree) == [
        "db.url",
        "security.secret",
        "security.previous_secrets",
        "smtp[1].password",
    ]


def _toml(value: str) -> str:
    """A TOML basic string for any text (control characters escaped)."""
    out = []
    for c in value:
        if c in '"\\' or ord(c) < 32 or ord(c) == 127 or 0x80 <= ord(c) < 0xA0:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'
