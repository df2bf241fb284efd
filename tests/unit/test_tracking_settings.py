"""[tracking] settings and `--track` values: validated, a bad one named."""

from __future__ import annotations

import pytest

from campaignd.campaigns.lifecycle import parse_track
from campaignd.config import load_settings
from campaignd.domain import TrackingMode
from campaignd.errors import ConfigError, InvalidInput


def test_default_mode_is_anonymous_and_the_environment_can_change_it() -> None:
    assert load_settings(env={}).tracking.mode is TrackingMode.ANONYMOUS
    env = {"CAMPAIGND_TRACKING__MODE": "Individual", "CAMPAIGND_TRACKING__MACHINE_WINDOW": "2s"}
    tracking = load_settings(env=env).tracking
    assert (tracking.mode, tracking.machine_window) == (TrackingMode.INDIVIDUAL, 2.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MODE", "everything"),
        ("FLUSH_INTERVAL", "0s"),
        ("FLUSH_HITS", "0"),
        ("APPLE_NETWORKS", '["17.0.0.0/33"]'),
        ("MACHINE_AGENTS", '["bot", " "]'),
    ],
)
def test_bad_tracking_settings_name_their_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={f"CAMPAIGND_TRACKING__{key}": value})
    assert f"tracking.{key.lower()}" in str(info.value)


def test_track_option() -> None:
    assert parse_track("clicks, OPENS") == ("opens", "clicks")
    assert parse_track("") == ()
    with pytest.raises(InvalidInput, match="'likes'"):
        parse_track("opens,likes")
