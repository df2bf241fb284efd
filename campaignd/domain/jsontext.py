"""JSON from outside, strictly: no duplicate keys, no NaN or Infinity; subscriber attributes
that every store and every JSON output can hold."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from campaignd.errors import InvalidInput

#: The largest attributes object, in bytes of JSON (an import's cell, the CLI, the API).
MAX_ATTRIBUTES = 64 * 1024


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key[:60]!r} is given twice in one object")
            seen.add(key)
    return value


def reject_constant(name: str) -> Any:
    """``parse_constant`` for json decoders: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not a JSON number")


def finite_float(text: str) -> float:
    """``parse_float`` for json decoders: a number too large for a float is refused."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


_STRICT = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=reject_constant, parse_float=finite_float
)


def strict_loads(text: str | bytes, what: str) -> Any:
    """`text` as JSON; InvalidInput naming `what` for bad JSON, a key given twice in one
    object (which a proxy in front of us might read differently), NaN or Infinity."""
    try:
        source = text.decode("utf-8") if isinstance(text, bytes) else text
        return _STRICT.decode(source)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} is not UTF-8: {exc.reason}", field=what) from None
    except RecursionError:
        raise InvalidInput(f"{what} is not valid JSON: nested too deeply", field=what) from None
    except ValueError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}", field=what) from None


def _text(value: str, where: str, field: str) -> None:
    if "\x00" in value:
        raise InvalidInput(f"{where} contains a NUL character", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        msg = f"{where} contains a lone surrogate (\\ud800-\\udfff)"
        raise InvalidInput(msg, field=field) from None


def check_attributes(attributes: Mapping[str, Any], field: str = "attributes") -> None:
    """InvalidInput naming `field` unless every key and string is text without NUL or
    lone surrogates, every number finite (no NaN, Infinity: PostgreSQL's jsonb and JSON
    output refuse them), every value JSON, and the whole at most MAX_ATTRIBUTES bytes."""
    stack: list[tuple[str, Any]] = [(field, attributes)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidInput(f"{where} has a key that is not text", field=field)
                _text(key, f"the key {key[:60]!r} in {where}", field)
                stack.append((f"{where}.{key[:60]}", item))
        elif isinstance(value, list | tuple):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            _text(value, where, field)
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"{where} is {value}: not a JSON number", field=field)
        elif value is not None and not isinstance(value, bool | int | float):
            raise InvalidInput(f"{where} is not a JSON value", field=field)
    size = len(json.dumps(attributes, ensure_ascii=False).encode("utf-8"))
    if size > MAX_ATTRIBUTES:
        raise InvalidInput(f"{field} are larger than {MAX_ATTRIBUTES} bytes of JSON", field=field)
