"""The [bounces] section: actions per bounce type, provider webhooks, the VERP return path."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from campaignd.config.fields import Frozen, case_insensitive

_SNS_TOPIC_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
)

#: A base address that can carry a VERP token (campaignd.rendering.verp): local part <= 15.
VERP_BASE = re.compile(r"^[A-Za-z0-9._=-]{1,15}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
VERP_BASE_RULE = (
    "must be a bare ASCII address with at most 15 characters before the @ (letters, digits, "
    ". _ = -; no +): with the 49 of the +token the local part stays within 64"
)


class BounceAction(StrEnum):
    NONE = "none"  # record only
    UNSUBSCRIBE = "unsubscribe"  # from every list
    BLOCKLIST = "blocklist"  # never mailed again


class BounceRule(Frozen):
    """What happens once a subscriber has `count` bounces of one type."""

    count: int = Field(default=1, ge=1, le=1000)
    action: Annotated[BounceAction, case_insensitive(BounceAction)] = BounceAction.NONE


class BounceSettings(Frozen):
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
