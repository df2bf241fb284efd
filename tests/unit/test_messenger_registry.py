"""Which messengers the settings define, and refusing unknown names up front."""

from __future__ import annotations

import pytest

from campaignd.config import Settings, SmtpSettings
from campaignd.errors import UnknownMessenger
from campaignd.messengers.registry import (
    build_messengers,
    check_messenger,
    close_messengers,
    messenger_names,
)

SETTINGS = Settings(
    smtp=(
        SmtpSettings(host="a.example"),
        SmtpSettings(host="b.example", port=587),
        SmtpSettings(host="postmark.example", name="postmark"),
        SmtpSettings(host="ark.example", name="ark", in_pool=True),
        SmtpSettings(host="off.example", name="off", enabled=False),
    )
)


def test_names() -> None:
    assert messenger_names(SETTINGS) == {"email", "postmark", "ark"}


async def test_pool_and_named_servers() -> None:
    messengers = build_messengers(SETTINGS)
    try:
        assert list(messengers["email"].servers) == ["a.example:25", "b.example:587", "ark"]
        assert list(messengers["postmark"].servers) == ["postmark"]
        assert list(messengers["ark"].servers) == ["ark"]
        assert {m.name for m in messengers.values()} == set(messengers)
    finally:
        await close_messengers(messengers)


def test_unknown_messenger_lists_the_configured_ones() -> None:
    check_messenger(SETTINGS, "postmark")
    with pytest.raises(UnknownMessenger) as info:
        check_messenger(SETTINGS, "sendgrid")
    assert "ark, email, postmark" in str(info.value)


def test_no_servers_means_no_messengers() -> None:
    assert messenger_names(Settings()) == set()
    with pytest.raises(UnknownMessenger, match="none"):
        check_messenger(Settings(), "email")
