"""app.claim_lease: validated, and the renewal interval stays well inside it."""

from __future__ import annotations

import datetime as dt

import pytest

from campaignd.config import AppSettings, load_settings
from campaignd.errors import ConfigError
from campaignd.sending.claims import CLAIM_LEASE, lease, renew_interval


def test_default_is_ten_minutes_renewed_every_minute() -> None:
    app = AppSettings()
    assert lease(app) == CLAIM_LEASE == dt.timedelta(minutes=10)
    assert renew_interval(app) == 60.0


def test_a_short_lease_is_renewed_five_times_within_it() -> None:
    app = AppSettings(claim_lease="2m")
    assert lease(app) == dt.timedelta(minutes=2) and renew_interval(app) == 24.0


@pytest.mark.parametrize("value", ["5s", "2d", "soon", -1])
def test_out_of_range_or_not_a_duration_is_refused_naming_the_key(value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={"CAMPAIGND_APP__CLAIM_LEASE": str(value)})
    assert caught.value.key == "app.claim_lease"
