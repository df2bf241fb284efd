"""Settings, core: one frozen tree, defaults < settings.toml < CAMPAIGND_SECTION__KEY environment.

Lives here: shared field types (fields.py), the sections (sections.py: app, db, security, log,
http, api, inbound; smtp.py; bounces.py; tracking.py; mailbox.py; dkim.py: the [[dkim]] keys;
pacing.py: the [[domain_limits]] entries), the whole tree (settings.py), loading it from the
file and the environment (load.py), secrets read from files and the permission warning
(secret_files.py), the pure checks behind the validators (checks.py), and the hints for bad
settings ("did you mean", [smtp] vs [[smtp]], environment names: hints.py).
Import the names from ``campaignd.config``; they are all re-exported here.
May import: campaignd.errors, campaignd.domain's enums and campaignd.addresses (domain names)
(and pydantic). Nothing above.
"""

from __future__ import annotations

from campaignd.config.bounces import (
    VERP_BASE,
    VERP_BASE_RULE,
    BounceAction,
    BounceRule,
    BounceSettings,
)
from campaignd.config.dkim import DkimSettings
from campaignd.config.fields import Duration, Header, OneLine, OptionalPath, parse_duration
from campaignd.config.hints import ENV_PREFIX
from campaignd.config.load import load_settings
from campaignd.config.pacing import DomainLimitSettings
from campaignd.config.sections import (
    ApiSettings,
    AppSettings,
    DbSettings,
    HttpSettings,
    InboundSettings,
    LogFormat,
    LogSettings,
    SecuritySettings,
)
from campaignd.config.settings import Settings
from campaignd.config.smtp import DEFAULT_POOL, AuthProtocol, SmtpSettings, TlsType
from campaignd.config.tracking import TrackingSettings

__all__ = [
    "DEFAULT_POOL",
    "ENV_PREFIX",
    "VERP_BASE",
    "VERP_BASE_RULE",
    "ApiSettings",
    "AppSettings",
    "AuthProtocol",
    "BounceAction",
    "BounceRule",
    "BounceSettings",
    "DbSettings",
    "DkimSettings",
    "DomainLimitSettings",
    "Duration",
    "Header",
    "HttpSettings",
    "InboundSettings",
    "LogFormat",
    "LogSettings",
    "OneLine",
    "OptionalPath",
    "SecuritySettings",
    "Settings",
    "SmtpSettings",
    "TlsType",
    "TrackingSettings",
    "load_settings",
    "parse_duration",
]
