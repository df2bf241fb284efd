"""The exception tree of campaignd: every error the package raises derives from CampaigndError.

    CampaigndError
    ├── ConfigError            a bad setting (names its key; the CLI exits 78)
    ├── StoreError             the database failed or refused
    │   ├── SchemaOutOfDate    migrations must run first
    │   ├── NotFound           no such list / subscriber / campaign / template
    │   ├── Conflict           a unique name or address already exists
    │   └── TransitionRefused  a campaign state change that is not allowed
    ├── InvalidInput           operator input that cannot be used (names the field)
    │   ├── InvalidAddress     an email address that cannot be stored, sent to or put in a header
    │   └── DkimKeyError       a DKIM key that cannot be used (rendering/dkim.py; names the file)
    ├── TemplateError          a template that does not compile or render (line and reason)
    ├── HeaderInjection        a header name or value that would add a header or body
    └── MessengerError         SMTP configuration or connection problems
        └── UnknownMessenger   a campaign names a messenger that is not configured

Foreign exceptions are wrapped where they enter (``raise X(...) from exc``).
"""

from __future__ import annotations


class CampaigndError(Exception):
    """campaignd failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(CampaigndError):
    """A setting is invalid."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"setting {key}: {problem}")


class StoreError(CampaigndError):
    """The database failed."""


class SchemaOutOfDate(StoreError):
    """The database schema is out of date: run `campaignd db upgrade`."""


class NotFound(StoreError):
    """Not found."""


class Conflict(StoreError):
    """Already exists."""


class TransitionRefused(StoreError):
    """This campaign state change is not allowed."""


class InvalidInput(CampaigndError):
    """The input is invalid."""


class InvalidAddress(InvalidInput):
    """The email address is not valid."""


class TemplateError(CampaigndError):
    """The template is invalid."""


class HeaderInjection(InvalidInput):
    """A header name or value contains a line break or a control character."""


class MessengerError(CampaigndError):
    """The messenger failed."""


class UnknownMessenger(MessengerError):
    """No messenger of that name is configured."""
