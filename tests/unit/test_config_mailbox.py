"""[[mailbox]] settings: defaults by protocol, passwords from files, and the refusals that
name the mailbox and the fix (clear-text passwords, move on POP3, twice the same name)."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaignd.config import Settings
from campaignd.config.load import load_settings
from campaignd.config.mailbox import AfterScan, MailProtocol
from campaignd.errors import ConfigError


def load(tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "settings.toml"
    path.write_text(body)
    return load_settings(path, env={})


def test_ports_follow_the_protocol_and_tls(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[[mailbox]]\nhost = "imap.example.com"\nusername = "b"\n'
        '[[mailbox]]\nname = "pop"\nprotocol = "POP3"\nhost = "pop.example.com"\nusername = "b"\n'
        'tls_type = "starttls"\n',
    )
    boxes = settings.mailbox
    assert [(m.protocol, m.port, m.after) for m in boxes] == [
        (MailProtocol.IMAP, 993, AfterScan.DELETE),
        (MailProtocol.POP3, 110, AfterScan.DELETE),
    ]


def test_the_password_comes_from_a_file_and_never_shows(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2-mailbox\n")
    secret.chmod(0o600)
    settings = load(
        tmp_path,
        f'[[mailbox]]\nhost = "imap.example.com"\nusername = "b"\npassword_file = "{secret}"\n',
    )
    box = settings.mailbox[0]
    assert box.password.get_secret_value() == "hunter2-mailbox"
    assert "hunter2" not in repr(box) and "hunter2" not in box.label


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('host = "imap.example.com"\nusername = "b"\ntls_type = "none"\n', "clear text"),
        ('protocol = "pop3"\nhost = "p.example.com"\nusername = "b"\nafter = "move"\n', "IMAP"),
        ('host = "imap.example.com"\n', "username is required"),
        ('host = "imap.example.com"\nusername = "b"\ninterval = "0s"\n', "interval"),
        ('host = "imap.example.com"\nusername = "b"\nprotocol = "jmap"\n', "protocol"),
        ('host = "imap.example.com\\r\\nX: y"\nusername = "b"\n', "host"),
    ],
)
def test_bad_mailboxes_are_refused_naming_the_problem(
    tmp_path: Path, body: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        load(tmp_path, "[[mailbox]]\n" + body)


def test_two_mailboxes_with_one_name_are_refused(tmp_path: Path) -> None:
    one = '[[mailbox]]\nname = "b"\nhost = "imap.example.com"\nusername = "b"\n'
    with pytest.raises(ConfigError, match="appears twice"):
        load(tmp_path, one + one)


def test_plain_text_is_fine_on_loopback(tmp_path: Path) -> None:
    settings = load(
        tmp_path, '[[mailbox]]\nhost = "127.0.0.1"\nusername = "b"\ntls_type = "none"\n'
    )
    assert settings.mailbox[0].port == 143
