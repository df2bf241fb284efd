"""One frozen settings tree: defaults < settings.toml < CAMPAIGND_SECTION__KEY environment."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from campaignd.config_checks import check_one_line, check_root_url, is_loopback, secrets_in
from campaignd.errors import ConfigError, HeaderInjection
from campaignd.rendering import mime

log = logging.getLogger(__name__)

ENV_PREFIX = "CAMPAIGND_"
DEFAULT_POOL = "email"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_SNS_TOPIC_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as "10ms", "15s", "1h"."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15s, 10ms or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError("expected a duration such as 15s, 10ms or 1h")


Duration = Annotated[float, BeforeValidator(parse_duration)]
OptionalPath = Annotated[Path | None, BeforeValidator(lambda v: None if v == "" else v)]
OneLine = Annotated[str, AfterValidator(check_one_line)]  # ends up in a header or SMTP command


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class TlsType(StrEnum):
    STARTTLS = "STARTTLS"
    TLS = "TLS"
    NONE = "none"


class AuthProtocol(StrEnum):
    PLAIN = "plain"
    LOGIN = "login"
    CRAM = "cram"
    NONE = "none"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Header(_Frozen):
    name: str
    value: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            mime.check_header_name(value)
        except HeaderInjection:
            raise ValueError("must be 1-76 printable ASCII characters without ':'") from None
        return value

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        check_one_line(value.replace("\t", " "))
        return value


def _case_insensitive(enum: type[StrEnum]) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            for member in enum:
                if member.value.lower() == value.strip().lower():
                    return member
        return value

    return BeforeValidator(convert)


class SmtpSettings(_Frozen):
    """One SMTP server (listmonk's settings plus password_file, timeout, max_rate, in_pool)."""

    enabled: bool = True
    name: str = ""
    in_pool: bool = False
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    auth_protocol: Annotated[AuthProtocol, _case_insensitive(AuthProtocol)] = AuthProtocol.CRAM
    username: str = ""
    password: SecretStr = SecretStr("")
    password_file: OptionalPath = None
    tls_type: Annotated[TlsType, _case_insensitive(TlsType)] = TlsType.STARTTLS
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
        # Accept [{name=..., value=...}] (listmonk) and {Name = "value"} tables.
        if isinstance(value, Mapping):
            return [{"name": k, "value": v} for k, v in value.items()]
        return value

    @model_validator(mode="after")
    def _password_file(self) -> SmtpSettings:
        if self.password_file is not None and not self.password.get_secret_value():
            try:
                secret = self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"password_file cannot be read: {exc.strerror}") from exc
            _warn_if_readable(self.password_file, ["an SMTP password (password_file)"])
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


class AppSettings(_Frozen):
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

    @field_validator("root_url")
    @classmethod
    def _root_url(cls, value: str) -> str:
        return check_root_url(value)


class DbSettings(_Frozen):
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


class SecuritySettings(_Frozen):
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
            try:
                secret = self.secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"secret_file cannot be read: {exc.strerror}") from exc
            _warn_if_readable(self.secret_file, ["the signing secret (security.secret_file)"])
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


class LogSettings(_Frozen):
    level: str = "INFO"
    format: Annotated[LogFormat, _case_insensitive(LogFormat)] = LogFormat.TEXT

    @field_validator("level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper


class HttpSettings(_Frozen):
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


class BounceAction(StrEnum):
    NONE = "none"  # record only
    UNSUBSCRIBE = "unsubscribe"  # from every list
    BLOCKLIST = "blocklist"  # never mailed again


class BounceRule(_Frozen):
    """What happens once a subscriber has `count` bounces of one type."""

    count: int = Field(default=1, ge=1, le=1000)
    action: Annotated[BounceAction, _case_insensitive(BounceAction)] = BounceAction.NONE


class BounceSettings(_Frozen):
    """Bounce recording, actions per type, and the providers' webhooks (off unless set)."""

    enabled: bool = True
    soft: BounceRule = BounceRule(count=3, action=BounceAction.UNSUBSCRIBE)
    hard: BounceRule = BounceRule(count=1, action=BounceAction.BLOCKLIST)
    complaint: BounceRule = BounceRule(count=1, action=BounceAction.BLOCKLIST)
    ses_enabled: bool = False
    ses_topic_arns: tuple[str, ...] = ()
    sendgrid_username: str = ""
    sendgrid_password: SecretStr = SecretStr("")
    sendgrid_verification_key: str = ""
    postmark_username: str = ""
    postmark_password: SecretStr = SecretStr("")
    return_path: str = ""  # VERP: the envelope sender becomes <local>+<token>@<domain>

    @field_validator("return_path")
    @classmethod
    def _return_path(cls, value: str) -> str:
        if value and not VERP_BASE.match(value):
            raise ValueError(VERP_BASE_RULE)
        return value

    @field_validator("ses_topic_arns")
    @classmethod
    def _topic_arns(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        # Without an allow-list any AWS account's topic could post genuinely signed messages.
        for arn in value:
            if not _SNS_TOPIC_ARN.match(arn):
                raise ValueError(
                    f"{arn!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
                )
        if info.data.get("ses_enabled") and not value:
            raise ValueError(
                "must list the SNS topic ARNs to accept when ses_enabled = true "
                "(otherwise any AWS account's topic would be accepted)"
            )
        return value


#: A base address that can carry a VERP token (campaignd.rendering.verp): local part <= 15.
VERP_BASE = re.compile(r"^[A-Za-z0-9._=-]{1,15}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
VERP_BASE_RULE = (
    "must be a bare ASCII address with at most 15 characters before the @ (letters, digits, "
    ". _ = -; no +): with the 49 of the +token the local part stays within 64"
)


class InboundSettings(_Frozen):
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


class Settings(_Frozen):
    app: AppSettings = AppSettings()
    db: DbSettings = DbSettings()
    security: SecuritySettings = SecuritySettings()
    log: LogSettings = LogSettings()
    http: HttpSettings = HttpSettings()
    bounces: BounceSettings = BounceSettings()
    inbound: InboundSettings = InboundSettings()
    smtp: tuple[SmtpSettings, ...] = ()

    @model_validator(mode="after")
    def _verp_mailto(self) -> Settings:
        mailto = self.app.unsubscribe_mailto
        if self.bounces.return_path and mailto and not VERP_BASE.match(_bare_address(mailto)):
            raise ValueError(
                f"app.unsubscribe_mailto (with bounces.return_path set) {VERP_BASE_RULE}"
            )
        return self

    def require_secret(self) -> str:
        secret = self.security.secret.get_secret_value()
        if not secret:
            raise ConfigError(
                "security.secret",
                "is not set; it signs unsubscribe links (set it in settings.toml, "
                "security.secret_file, or CAMPAIGND_SECURITY__SECRET)",
            )
        return secret

    def previous_secrets(self) -> tuple[str, ...]:
        """security.previous_secrets (and _files): verify-only, never used to sign."""
        current = self.security.secret.get_secret_value()
        out = (s.get_secret_value() for s in self.security.previous_secrets)
        return tuple(dict.fromkeys(s for s in out if s != current))

    def messengers(self) -> dict[str, tuple[SmtpSettings, ...]]:
        """Messenger name -> its servers: the unnamed (and in_pool) servers form `email`."""
        out: dict[str, list[SmtpSettings]] = {}
        for server in self.smtp:
            if not server.enabled:
                continue
            if not server.name or server.in_pool:
                out.setdefault(DEFAULT_POOL, []).append(server)
            if server.name:
                out.setdefault(server.name, []).append(server)
        return {k: tuple(v) for k, v in out.items()}


def _bare_address(value: str) -> str:
    return value.rpartition("<")[2].rstrip(">").strip() if "<" in value else value.strip()


def _key_of(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if key else "") + part
    return key or "settings"


def _set_path(tree: dict[str, Any], path: list[str], value: str) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


_SMTP_ENV = (
    "HOST", "PORT", "USERNAME", "PASSWORD", "TLS_TYPE", "AUTH_PROTOCOL", "NAME",
    "ALLOW_PLAINTEXT_AUTH",
)  # fmt: skip


def _apply_env(tree: dict[str, Any], env: Mapping[str, str]) -> None:
    smtp_env = {
        k.lower(): env[f"{ENV_PREFIX}SMTP_{k}"] for k in _SMTP_ENV if f"{ENV_PREFIX}SMTP_{k}" in env
    }
    if "host" in smtp_env:
        tree["smtp"] = [smtp_env]
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if path[0] == "smtp":
            continue  # smtp servers come from the file or CAMPAIGND_SMTP_HOST etc.
        _set_path(tree, path, value)


_warned: set[str] = set()  # files already warned about, once per process


def _warn_if_readable(path: Path, holds: list[str]) -> None:
    """Warn once if a file holding secrets (named by key, never shown) is group/other-readable."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if holds and mode & (stat.S_IRGRP | stat.S_IROTH) and str(path) not in _warned:
        _warned.add(str(path))
        log.warning(
            "%s holds %s and is readable by other users (mode %04o); chmod 600 it",
            path,
            ", ".join(holds),
            mode,
            extra={"action": "config.permissions"},
        )


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings; raise ConfigError naming the first bad key."""
    env = os.environ if env is None else env
    tree: dict[str, Any] = {}
    if path is None and env.get(f"{ENV_PREFIX}CONFIG"):
        path = Path(env[f"{ENV_PREFIX}CONFIG"])
    if path is not None:
        try:
            with path.open("rb") as fh:
                tree = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config", f"{path} is not valid TOML: {exc}") from exc
        _warn_if_readable(path, secrets_in(tree))
    _apply_env(tree, env)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        key = _key_of(tuple(first["loc"]))
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = "is not a known setting"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        raise ConfigError(key, msg) from None
