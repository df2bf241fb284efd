"""The [[mailbox]] entries: hosted bounce mailboxes polled over IMAP or POP3 (daemon/mailbox.py)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr, model_validator

from campaignd.config.checks import is_loopback
from campaignd.config.fields import Duration, Frozen, OneLine, OptionalPath, case_insensitive
from campaignd.config.secret_files import read_secret_file


class MailProtocol(StrEnum):
    IMAP = "imap"
    POP3 = "pop3"


class MailTls(StrEnum):
    TLS = "TLS"
    STARTTLS = "STARTTLS"
    NONE = "none"


class AfterScan(StrEnum):
    """What happens to a message once it has been handled (or found not to be ours)."""

    DELETE = "delete"
    MOVE = "move"  # IMAP only: to move_to, for a human to look at later


_PORTS = {
    (MailProtocol.IMAP, MailTls.TLS): 993,
    (MailProtocol.IMAP, MailTls.STARTTLS): 143,
    (MailProtocol.IMAP, MailTls.NONE): 143,
    (MailProtocol.POP3, MailTls.TLS): 995,
    (MailProtocol.POP3, MailTls.STARTTLS): 110,
    (MailProtocol.POP3, MailTls.NONE): 110,
}


class MailboxSettings(Frozen):
    """One mailbox that receives DSNs, feedback-loop reports and mailto unsubscribes for our
    VERP addresses (`bounces+<token>@...` delivered to `bounces@...` by plus addressing)."""

    enabled: bool = True
    name: str = ""
    protocol: Annotated[MailProtocol, case_insensitive(MailProtocol)] = MailProtocol.IMAP
    host: OneLine = "localhost"
    port: int = Field(default=0, ge=0, le=65535)  # 0: the protocol's port for tls_type
    tls_type: Annotated[MailTls, case_insensitive(MailTls)] = MailTls.TLS
    tls_skip_verify: bool = False
    tls_ca_file: OptionalPath = None  # a private CA, instead of the system's
    allow_plaintext_auth: bool = False
    username: OneLine = ""
    password: SecretStr = SecretStr("")
    password_file: OptionalPath = None
    folder: OneLine = "INBOX"
    interval: Duration = 60.0
    after: Annotated[AfterScan, case_insensitive(AfterScan)] = AfterScan.DELETE
    move_to: OneLine = "campaignd-done"
    max_messages: int = Field(default=500, ge=1, le=100_000)  # per poll
    max_message_size: int = Field(default=10_000_000, ge=10_000, le=1_000_000_000)
    timeout: Duration = 30.0

    @model_validator(mode="after")
    def _checks(self) -> MailboxSettings:
        if not 1.0 <= self.interval <= 86400.0:
            raise ValueError(f"mailbox {self.label}: interval must be between 1s and 1d")
        if not 1.0 <= self.timeout <= 600.0:
            raise ValueError(f"mailbox {self.label}: timeout must be between 1s and 10m")
        if not self.username:
            raise ValueError(f"mailbox {self.label}: username is required")
        if self.after is AfterScan.MOVE and self.protocol is MailProtocol.POP3:
            raise ValueError(
                f'mailbox {self.label}: after = "move" needs IMAP (POP3 has no folders); '
                'use after = "delete"'
            )
        if self.password_file is not None and not self.password.get_secret_value():
            secret = read_secret_file(
                self.password_file, "password_file", "a mailbox password (password_file)"
            )
            object.__setattr__(self, "password", SecretStr(secret))
        if (
            self.tls_type is MailTls.NONE
            and not self.allow_plaintext_auth
            and not is_loopback(self.host)
        ):
            raise ValueError(
                f"mailbox {self.label} would send its password in clear text (tls_type = "
                '"none"): use tls_type = "TLS" or "STARTTLS", or set allow_plaintext_auth = '
                "true for a trusted network"
            )
        if self.port == 0:
            object.__setattr__(self, "port", _PORTS[(self.protocol, self.tls_type)])
        return self

    @property
    def label(self) -> str:
        """A name for logs: the mailbox name, else protocol://user@host (no password)."""
        return self.name or f"{self.protocol.value}://{self.username}@{self.host}"
