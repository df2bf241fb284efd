"""The single-table sections: [app], [db], [security], [log], [http], [api] and [inbound]."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator

from campaignd.config.checks import check_root_url
from campaignd.config.fields import Duration, Frozen, OneLine, OptionalPath, case_insensitive
from campaignd.config.secret_files import read_secret_file


class AppSettings(Frozen):
    root_url: str = "http://localhost:9000"
    from_email: OneLine = "campaignd <noreply@localhost>"
    concurrency: int = Field(default=10, ge=1, le=10000)
    message_rate: float = Field(default=10.0, ge=0)
    batch_size: int = Field(default=1000, ge=1, le=100000)
    max_send_errors: int = Field(default=1000, ge=0)
    max_attempts: int = Field(default=5, ge=1, le=100)
    retry_backoff: Duration = 60.0
    sliding_window: bool = False
    sliding_window_duration: Duration = 3600.0
    sliding_window_rate: int = Field(default=10000, ge=1)
    schedule_max_lag: Duration = 86400.0
    poll_interval: Duration = 1.0
    shutdown_grace: Duration = 30.0
    instance_id: str = ""
    unsubscribe_mailto: OneLine = ""
    message_id_domain: OneLine = ""
    workers: int = Field(default=1, ge=1, le=64)
    template_max_output: int = Field(default=2_000_000, ge=1024)
    template_timeout: Duration = 2.0
    # Sends reaching no server for this long pause the campaign (recipients stay deferred).
    pause_after_unreachable: Annotated[Duration, Field(gt=0, le=86400)] = 120.0
    # A missing subscriber attribute prints empty ("blank", as listmonk) or fails ("fail").
    missing_attributes: Literal["blank", "fail"] = "blank"
    max_render_failures: int = Field(default=5, ge=0)
    # Feedback-ID: <campaign id>:<list ids>:<this> on every campaign message when set
    # (Gmail's feedback loop groups complaints by these fields); empty: no Feedback-ID.
    feedback_id_sender: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{0,64}$")] = ""
    # "Precedence: bulk" on campaign messages (some auto-responders stay quiet for it).
    precedence_bulk: bool = False
    # A claim not renewed for this long is a dead daemon's and is sent again (renewed every
    # minute, or every fifth of the lease if shorter). Shorter: a dead daemon's recipients
    # resume sooner; longer: fewer renewals, and a daemon stalled that long keeps its claims.
    claim_lease: Annotated[Duration, Field(ge=30, le=86400)] = 600.0

    @field_validator("root_url")
    @classmethod
    def _root_url(cls, value: str) -> str:
        return check_root_url(value)


class DbSettings(Frozen):
    url: str = "sqlite:///campaignd.db"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgres:", "postgresql+")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value


def _secret_list(value: Any) -> Any:
    """A list, or (from the environment) one string of values separated by commas or spaces."""
    if isinstance(value, str):
        return [part for part in re.split(r"[\s,]+", value) if part]
    return value


class SecuritySettings(Frozen):
    secret: SecretStr = SecretStr("")
    secret_file: OptionalPath = None
    #: Verify-only: tokens signed with these still verify; new tokens use `secret`.
    previous_secrets: Annotated[tuple[SecretStr, ...], BeforeValidator(_secret_list)] = ()
    previous_secret_files: Annotated[tuple[Path, ...], BeforeValidator(_secret_list)] = ()

    @field_validator("previous_secrets")
    @classmethod
    def _previous(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for secret in value:
            if len(secret.get_secret_value()) < 16:
                raise ValueError("each previous secret must be at least 16 characters")
        return value

    @model_validator(mode="after")
    def _secret_file(self) -> SecuritySettings:
        if self.secret_file is not None and not self.secret.get_secret_value():
            secret = read_secret_file(
                self.secret_file, "secret_file", "the signing secret (security.secret_file)"
            )
            object.__setattr__(self, "secret", SecretStr(secret))
        value = self.secret.get_secret_value()
        if value and len(value) < 16:
            raise ValueError("secret must be at least 16 characters")
        more = []
        for path in self.previous_secret_files:
            try:
                old = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"previous_secret_files: {path} cannot be read: {exc.strerror}"
                ) from exc
            if len(old) < 16:
                raise ValueError(f"previous_secret_files: {path} holds fewer than 16 characters")
            more.append(SecretStr(old))
        if more:
            object.__setattr__(self, "previous_secrets", (*self.previous_secrets, *more))
        return self


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class LogSettings(Frozen):
    level: str = "INFO"
    format: Annotated[LogFormat, case_insensitive(LogFormat)] = LogFormat.TEXT

    @field_validator("level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper


class HttpSettings(Frozen):
    listen: str = "127.0.0.1:9000"
    enabled: bool = False
    header_timeout: Duration = 5.0
    body_timeout: Duration = 30.0
    max_connections_per_client: int = Field(default=20, ge=0, le=10000)
    proxy_addresses: tuple[str, ...] = ("127.0.0.1", "::1")

    @field_validator("header_timeout", "body_timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not 0.1 <= value <= 600:
            raise ValueError("must be between 100ms and 10m")
        return value

    @field_validator("proxy_addresses")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address") from None
        return tuple(str(ipaddress.ip_address(a)) for a in value)


def _check_listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError("must be host:port, e.g. 127.0.0.1:9100")
    return value


class ApiSettings(Frozen):
    """The admin API (campaignd.api), on its own listener: never behind the public proxy."""

    enabled: bool = False
    listen: str = "127.0.0.1:9100"
    max_body_size: int = Field(default=1_000_000, ge=1024, le=100_000_000)
    max_import_size: int = Field(default=100_000_000, ge=1024, le=10_000_000_000)  # CSV uploads
    header_timeout: Duration = 5.0
    body_timeout: Duration = 30.0

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _check_listen(value)

    @field_validator("header_timeout", "body_timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not 0.1 <= value <= 600:
            raise ValueError("must be between 100ms and 10m")
        return value


class InboundSettings(Frozen):
    """The SMTP receiver for bounces and mailto unsubscribes (campaignd.daemon.inbound)."""

    enabled: bool = False
    listen: str = "127.0.0.1:2526"
    max_message_size: int = Field(default=10_000_000, ge=10_000, le=1_000_000_000)
    max_connections_per_client: int = Field(default=10, ge=1, le=10_000)
    timeout: Duration = 60.0
    tls_cert_file: OptionalPath = None
    tls_key_file: OptionalPath = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:2526")
        return value

    @model_validator(mode="after")
    def _tls(self) -> InboundSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together (STARTTLS needs both)")
        return self
