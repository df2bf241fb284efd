"""Hints for bad settings: "did you mean" for unknown keys, [smtp] vs [[smtp]], env names."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

ENV_PREFIX = "CAMPAIGND_"

Loc = tuple[int | str, ...]


def _is_array(annotation: Any) -> bool:
    """A section written as an array of tables ([[smtp]]): a tuple or list of models."""
    return typing.get_origin(annotation) in (tuple, list)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings model an annotation holds (itself, or inside a tuple/Optional/Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _model_at(root: type[BaseModel], path: Loc) -> type[BaseModel] | None:
    """The model holding the keys at `path` (list indexes skipped), None if there is none."""
    model: type[BaseModel] | None = root
    for part in path:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        model = _model_in(model.model_fields[part].annotation)
    return model


def key_name(loc: Loc) -> str:
    """`app.message_rate`, `smtp[0].host`: a location as the operator writes it."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if key else "") + part
    return key or "settings"


def env_var(path: Loc) -> str:
    """The environment variable of a key: app.message_rate -> CAMPAIGND_APP__MESSAGE_RATE."""
    return ENV_PREFIX + "__".join(str(p) for p in path).upper()


def did_you_mean(root: type[BaseModel], loc: Loc) -> Loc | None:
    """The known key closest to an unknown one, in the same section; or None."""
    if not loc or not isinstance(loc[-1], str):
        return None
    model = _model_at(root, loc[:-1])
    if model is None:
        return None
    close = difflib.get_close_matches(loc[-1].lower(), list(model.model_fields), n=1, cutoff=0.6)
    return (*loc[:-1], close[0]) if close else None


def unknown_key(root: type[BaseModel], loc: Loc, env_path: Loc | None = None) -> str:
    """The one line for a key (or section) that does not exist, with the closest known one.
    `env_path` is the path of the environment variable that set it, if one did."""
    guess = did_you_mean(root, loc)
    if env_path is not None:
        line = f"unknown setting {key_name(env_path)} (from {env_var(env_path)})"
        if guess is not None:
            line += f" (did you mean {env_var((*guess, *env_path[len(loc) :]))}?)"
        return line
    if len(loc) == 1:
        line = f"unknown section [{loc[0]}]"
        return line + (f" (did you mean [{guess[0]}]?)" if guess else "")
    line = f"unknown setting {key_name(loc)}"
    return line + (f" (did you mean {key_name(guess)}?)" if guess else "")


def table_shape(root: type[BaseModel], tree: Mapping[str, Any]) -> tuple[str, str] | None:
    """(section, hint) for a section written with the wrong brackets: [smtp] where [[smtp]]
    (a list, one table per server) is meant, or [[app]] where [app] (one table) is meant."""
    for name, value in tree.items():
        field = root.model_fields.get(name)
        if field is None or _model_in(field.annotation) is None:
            continue
        if _is_array(field.annotation) and isinstance(value, Mapping):
            return name, (
                f"[{name}] is a list: write [[{name}]] (two brackets) above the keys of each "
                "one (each server, for [[smtp]])"
            )
        if (
            not _is_array(field.annotation)
            and isinstance(value, list)
            and value
            and all(isinstance(v, Mapping) for v in value)
        ):
            return name, f"[{name}] is one table: write [{name}] (one bracket), not [[{name}]]"
    return None


def env_without_nesting(root: type[BaseModel], env: Mapping[str, str]) -> list[tuple[str, str]]:
    """Ignored CAMPAIGND_ variables (no `__`) that read as a setting's variable with `_` for
    `__`, e.g. CAMPAIGND_APP_MESSAGE_RATE: (the name given, the name meant)."""
    meant: dict[str, str] = {}
    for section, field in root.model_fields.items():
        model = _model_in(field.annotation)
        if model is None or _is_array(field.annotation):
            continue
        for key in model.model_fields:
            name = env_var((section, key))
            meant[name.replace("__", "_")] = name
    return [(name, meant[name]) for name in env if name in meant]
