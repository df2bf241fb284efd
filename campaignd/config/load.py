"""Loading the settings: defaults < settings.toml < CAMPAIGND_SECTION__KEY environment."""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from campaignd.config.checks import secrets_in
from campaignd.config.hints import (
    ENV_PREFIX,
    Loc,
    env_without_nesting,
    key_name,
    table_shape,
    unknown_key,
)
from campaignd.config.secret_files import warn_if_readable
from campaignd.config.settings import Settings
from campaignd.errors import ConfigError

log = logging.getLogger(__name__)

_SMTP_ENV = (
    "HOST", "PORT", "USERNAME", "PASSWORD", "TLS_TYPE", "AUTH_PROTOCOL", "NAME",
    "ALLOW_PLAINTEXT_AUTH",
)  # fmt: skip


def _set_path(tree: dict[str, Any], path: list[str], value: str) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _apply_env(tree: dict[str, Any], env: Mapping[str, str]) -> dict[Loc, str]:
    """Put the environment's settings into the tree; return the paths they set."""
    for given, meant in env_without_nesting(Settings, env):
        log.warning(
            "environment variable %s is ignored: did you mean %s?",
            given,
            meant,
            extra={"action": "config.env_ignored"},
        )
    paths: dict[Loc, str] = {}
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
        paths[tuple(path)] = name
    return paths


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
        warn_if_readable(path, secrets_in(tree))
    shape = table_shape(Settings, tree)
    if shape is not None:
        raise ConfigError(*shape)
    from_env = _apply_env(tree, env)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        loc = tuple(first["loc"])
        key = key_name(loc)
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            env_path = next((p for p in from_env if p[: len(loc)] == loc), None)
            line = unknown_key(Settings, loc, env_path)
            raise ConfigError(key, line, line=line) from None
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        raise ConfigError(key, msg) from None
