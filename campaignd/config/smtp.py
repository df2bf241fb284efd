"""The [[smtp]] servers: one SmtpSettings per server (listmonk's keys plus a few of ours)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator

from campaignd.config.checks import is_loopback
from campaignd.config.fields import (
    Duration,
    Frozen,
    Header,
    OneLine,
    OptionalPath,
    case_insensitive,
)
from campaignd.config.secret_files import read_secret_file

DEFAULT_POOL = "email"


class TlsType(StrEnum):
    STARTTLS = "STARTTLS"
    TLS = "TLS"
    NONE = "none"


class AuthProtocol(StrEnum):
    PLAIN = "plain"
    LOGIN = "login"
    CRAM = "cram"
    NONE = "none"


class SmtpSettings(Frozen):
    """One SMTP server (listmonk's settings plus password_file, timeout, max_rate, in_pool)."""

    enabled: bool = True
    name: str = ""
    in_pool: bool = False
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    auth_protocol: Annotated[AuthProtocol, case_insensitive(AuthProtocol)] = AuthProtocol.CRAM
    username: str = ""
    password: SecretStr = SecretStr("")
    password_file: OptionalPath = None
    tls_type: Annotated[TlsType, case_insensitive(TlsType)] = TlsType.STARTTLS
    tls_skip_verify: bool = False
    allow_plaintext_auth: bool = False
    hello_hostname: OneLine = ""
    max_conns: int = Field(default=10, ge=1, le=1000)
    idle_timeout: Duration = 15.0
    wait_timeout: Duration = 5.0
    timeout: Duration = 30.0
    max_msg_retries: int = Field(default=2, ge=0, le=100)
    msg_retry_delay: Duration = 0.01
    max_rate: float = Field(default=0.0, ge=0)
    email_headers: tuple[Header, ...] = ()

    @field_validator("email_headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        # Three spellings: listmonk's list of one-header tables [{"X-Foo" = "bar"}], a table
        # {"X-Foo" = "bar"}, and [{name = "X-Foo", value = "bar"}]. Names and values are
        # checked by Header whichever is used.
        if isinstance(value, Mapping):
            return [{"name": k, "value": v} for k, v in value.items()]
        if isinstance(value, list | tuple):
            return [h for item in value for h in _header_items(item)]
        return value

    @model_validator(mode="after")
    def _password_file(self) -> SmtpSettings:
        if self.password_file is not None and not self.password.get_secret_value():
            secret = read_secret_file(
                self.password_file, "password_file", "an SMTP password (password_file)"
            )
            object.__setattr__(self, "password", SecretStr(secret))
        return self

    @model_validator(mode="after")
    def _no_clear_text_auth(self) -> SmtpSettings:
        if (
            self.tls_type is TlsType.NONE
            and self.auth_protocol is not AuthProtocol.NONE
            and self.username
            and not self.allow_plaintext_auth
            and not is_loopback(self.host)
        ):
            raise ValueError(
                f"server {self.label} would send its password in clear text (tls_type = "
                '"none" with a username): use tls_type = "STARTTLS" or "TLS", or set '
                "allow_plaintext_auth = true for a trusted network"
            )
        return self

    @property
    def label(self) -> str:
        """A name for logs and the ledger: the server name, else host:port."""
        return self.name or f"{self.host}:{self.port}"


def _header_items(item: Any) -> list[Any]:
    """One entry of an email_headers list: {name=..., value=...}, or a table of headers."""
    if isinstance(item, Mapping) and set(item) != {"name", "value"}:
        return [{"name": k, "value": v} for k, v in item.items()]
    return [item]
