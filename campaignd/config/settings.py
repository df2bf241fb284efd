"""The whole settings tree (Settings): every section, the checks across sections, and helpers."""

from __future__ import annotations

from pydantic import field_validator, model_validator

from campaignd.config.bounces import VERP_BASE, VERP_BASE_RULE, BounceSettings
from campaignd.config.dkim import DkimSettings
from campaignd.config.fields import Frozen
from campaignd.config.mailbox import MailboxSettings
from campaignd.config.pacing import DomainLimitSettings, check_distinct
from campaignd.config.sections import (
    ApiSettings,
    AppSettings,
    DbSettings,
    HttpSettings,
    InboundSettings,
    LogSettings,
    SecuritySettings,
)
from campaignd.config.smtp import DEFAULT_POOL, SmtpSettings
from campaignd.config.tracking import TrackingSettings
from campaignd.errors import ConfigError


class Settings(Frozen):
    app: AppSettings = AppSettings()
    db: DbSettings = DbSettings()
    security: SecuritySettings = SecuritySettings()
    log: LogSettings = LogSettings()
    http: HttpSettings = HttpSettings()
    api: ApiSettings = ApiSettings()
    bounces: BounceSettings = BounceSettings()
    inbound: InboundSettings = InboundSettings()
    tracking: TrackingSettings = TrackingSettings()
    smtp: tuple[SmtpSettings, ...] = ()
    mailbox: tuple[MailboxSettings, ...] = ()
    dkim: tuple[DkimSettings, ...] = ()
    domain_limits: tuple[DomainLimitSettings, ...] = ()

    @model_validator(mode="after")
    def _verp_mailto(self) -> Settings:
        mailto = self.app.unsubscribe_mailto
        if self.bounces.return_path and mailto and not VERP_BASE.match(_bare_address(mailto)):
            raise ValueError(
                f"app.unsubscribe_mailto (with bounces.return_path set) {VERP_BASE_RULE}"
            )
        return self

    @model_validator(mode="after")
    def _api_listener(self) -> Settings:
        if self.api.enabled and self.http.enabled and self.api.listen == self.http.listen:
            raise ValueError(
                "api.listen must differ from http.listen (the admin API has its own listener)"
            )
        return self

    @model_validator(mode="after")
    def _mailbox_names(self) -> Settings:
        labels = [m.label for m in self.mailbox]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(f"[[mailbox]] {twice[0]} appears twice: give each a distinct name")
        return self

    @field_validator("domain_limits")
    @classmethod
    def _domain_limits(
        cls, value: tuple[DomainLimitSettings, ...]
    ) -> tuple[DomainLimitSettings, ...]:
        check_distinct(value)
        return value

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
