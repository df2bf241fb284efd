"""[api] settings: defaults, errors naming the key; the public [http] app has no /api route."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from campaignd.config import SecuritySettings, Settings, load_settings
from campaignd.errors import ConfigError
from campaignd.http.app import create_app
from campaignd.store.memory import MemoryStore


def test_defaults_keep_the_api_off_and_local() -> None:
    api = load_settings(env={}).api
    assert (api.enabled, api.listen, api.max_body_size) == (False, "127.0.0.1:9100", 1_000_000)
    env = {"CAMPAIGND_API__ENABLED": "true", "CAMPAIGND_API__LISTEN": "[::1]:9200"}
    assert load_settings(env=env).api.listen == "[::1]:9200"


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"CAMPAIGND_API__LISTEN": "9100"}, "api.listen"),
        ({"CAMPAIGND_API__LISTEN": "localhost:http"}, "api.listen"),
        ({"CAMPAIGND_API__MAX_BODY_SIZE": "10"}, "api.max_body_size"),
        ({"CAMPAIGND_API__ENABLED": "maybe"}, "api.enabled"),
        ({"CAMPAIGND_API__BODY_TIMEOUT": "1h"}, "api.body_timeout"),
    ],
)
def test_bad_values_name_the_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert key in str(caught.value)


def test_the_api_cannot_share_the_public_listener() -> None:
    env = {
        "CAMPAIGND_API__ENABLED": "true",
        "CAMPAIGND_HTTP__ENABLED": "true",
        "CAMPAIGND_API__LISTEN": "127.0.0.1:9000",
        "CAMPAIGND_HTTP__LISTEN": "127.0.0.1:9000",
    }
    with pytest.raises(ConfigError, match=r"api\.listen must differ from http\.listen"):
        load_settings(env=env)


def test_public_app_serves_nothing_under_api() -> None:
    settings = Settings(
        security=SecuritySettings(secret=SecretStr("s" * 32)), api={"enabled": True}
    )
    app = create_app(MemoryStore(), settings)
    paths = [getattr(r, "path", "") for r in app.routes]
    assert paths and not [p for p in paths if p.startswith("/api")]
