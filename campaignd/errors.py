"""The exception tree of campaignd: every error the package raises derives from CampaigndError.

    CampaigndError
    ├── ConfigError                a bad setting (names its key; the CLI exits 78)
    ├── StoreError                 the database failed or refused
    │   ├── SchemaOutOfDate        migrations must run first
    │   ├── NotFound               no such list / subscriber / campaign / template
    │   ├── Conflict               a unique name or address already exists
    │   └── TransitionRefused      a campaign state change that is not allowed
    ├── InvalidInput               input that cannot be used (names the field)
    │   ├── InvalidAddress         an address that cannot be stored, sent to or put in a header
    │   ├── HeaderInjection        a header name or value that would add a header or body
    │   ├── InvalidToken           a signed link (unsubscribe, opt-in, VERP) that does not verify
    │   ├── BadPayload             a bounce webhook body that is not what the provider sends
    │   ├── SnsSignatureError      an SNS message not signed by Amazon SNS for a topic we accept
    │   ├── SnsUnavailable         the SNS signing certificate cannot be fetched now (retry later)
    │   └── DkimKeyError           a DKIM key that cannot be used (names the file)
    ├── TemplateError              a template that does not compile or render (line and reason)
    │   ├── DataError              an expression failed on this subscriber's data
    │   └── SlowRender             a render past its event-loop budget (run again in a thread)
    ├── MailboxError               a [[mailbox]] cannot be read (connect, login, a command)
    ├── DkimSigningFailed          the DKIM signer process died or failed (the message is retried)
    └── MessengerError             SMTP configuration or connection problems
        ├── UnknownMessenger       a campaign names a messenger that is not configured
        ├── ConnectFailure         opening a connection failed (refused, timeout, TLS, AUTH)
        └── WireError              a pipelined SMTP connection cannot carry on
            ├── ConnectionLost     the connection was lost
            ├── ReplyTimeout       no reply in time
            └── BadReply           bytes that are not an SMTP reply

Foreign exceptions are wrapped where they enter (``raise X(...) from exc``). An error about one
input field may name it (``field``: "email", "lists", "send_at"); the admin API reports it in
problem+json's ``errors`` member.
"""

from __future__ import annotations


class CampaigndError(Exception):
    """campaignd failed."""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        self.field = field  # the input field at fault, when there is one


class ConfigError(CampaigndError):
    """A setting is invalid."""

    def __init__(self, key: str, problem: str, *, line: str | None = None) -> None:
        self.key = key
        self.problem = problem
        # `line`: the whole message, when "setting KEY: PROBLEM" reads badly (an unknown key).
        super().__init__(line if line is not None else f"setting {key}: {problem}")


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


class DataError(TemplateError):
    """A template expression failed on this subscriber's data (a type or value problem)."""


class SlowRender(TemplateError):
    """A render went past its budget on the event loop: run it again in a thread."""


class HeaderInjection(InvalidInput):
    """A header name or value contains a line break or a control character."""


class InvalidToken(InvalidInput):
    """The link is invalid or has been tampered with."""


class BadPayload(InvalidInput):
    """The webhook payload is not what the provider sends."""


class SnsSignatureError(InvalidInput):
    """The SNS message is not signed by Amazon SNS (or not for a topic we accept)."""


class SnsUnavailable(InvalidInput):
    """The signing certificate cannot be fetched now: our side, try again later."""


class MailboxError(CampaigndError):
    """A bounce mailbox cannot be read."""

    def __init__(self, mailbox: str, reason: str) -> None:
        self.mailbox = mailbox
        self.reason = reason
        super().__init__(f"mailbox {mailbox}: {reason}")


class MessengerError(CampaigndError):
    """The messenger failed."""


class UnknownMessenger(MessengerError):
    """No messenger of that name is configured."""


class ConnectFailure(MessengerError):
    """Opening a connection failed (refused, timeout, TLS, greeting, AUTH)."""

    def __init__(
        self,
        step: str,
        reason: str,
        *,
        code: int | None = None,
        hint: str = "",
        auth_failed: bool = False,
    ) -> None:
        self.step = step
        self.reason = reason
        self.code = code
        self.hint = hint
        self.auth_failed = auth_failed
        super().__init__(f"{step}: {reason}")


class WireError(MessengerError):
    """The SMTP connection cannot carry on."""


class ConnectionLost(WireError):
    """The connection to the SMTP server was lost."""


class ReplyTimeout(WireError):
    """The SMTP server did not reply in time."""


class BadReply(WireError):
    """The SMTP server sent something that is not an SMTP reply."""


class DkimKeyError(InvalidInput):
    """The DKIM private key cannot be used."""


class DkimSigningFailed(CampaigndError):
    """The DKIM signer process died or failed; the message was not sent (it is retried)."""
