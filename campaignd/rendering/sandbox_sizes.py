"""Pure size estimates for the sandbox: how long a value's text or an operation's result would
be, found from the operands before the operation runs (see campaignd.rendering.sandbox)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_PERCENT = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d+))?[hlL]?(?P<conv>.)",
    re.DOTALL,
)


def size_of(value: Any) -> int:
    """The length of a str, bytes, list, tuple or dict; 0 for anything else."""
    if isinstance(value, str | list | tuple | dict | bytes):
        return len(value)
    return 0


def weight_of(value: Any) -> int:
    """What a value multiplies a result by: an int's size, a sequence's length."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return abs(value)
    return size_of(value)


def text_size(value: Any, limit: int, depth: int = 0) -> int:
    """About ``len(str(value))`` (containers as their repr), counted no further than past
    ``limit``: what turning a value into text would cost, found without doing it."""
    if isinstance(value, str | bytes):
        return len(value)
    items: Iterable[Any]
    if isinstance(value, dict):
        items = (x for pair in value.items() for x in pair)
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        return 1
    if depth > 20:
        return 2
    total = 2
    for item in items:
        total += text_size(item, limit - total, depth + 1) + 2
        if total > limit:
            break
    return total


def percent_size(fmt: Any, args: Any, limit: int) -> int:
    """At least how long ``fmt % args`` is, found from the format and the arguments alone:
    literal and ``*`` widths and precisions, and the arguments' text."""
    if not isinstance(fmt, str):
        return 0
    total = len(fmt)
    if isinstance(args, tuple):
        positional: tuple[Any, ...] = args
    elif isinstance(args, Mapping):
        positional = ()
    else:
        positional = (args,)
    index = 0
    for match in _PERCENT.finditer(fmt):
        for part in ("width", "prec"):
            spec = match.group(part)
            if spec == "*":
                star = positional[index] if index < len(positional) else 0
                index += 1
                total += abs(star) if isinstance(star, int) else 0
            elif spec:
                total += int(spec)
        if match.group("conv") == "%":
            continue
        key = match.group("key")
        if key is not None and isinstance(args, Mapping):
            value = args.get(key, "")
        elif index < len(positional):
            value = positional[index]
            index += 1
        else:
            value = ""
        total += text_size(value, limit)
        if total > limit:
            break
    return total


def joined_size(sep: Any, items: Any, limit: int) -> int:
    """``sep.join(items)`` for a list or tuple (0 for anything else)."""
    if not isinstance(items, list | tuple):
        return 0
    total = text_size(sep, limit) * max(len(items) - 1, 0)
    for item in items:
        if total > limit:
            break
        total += text_size(item, limit)
    return total


def replaced_size(s: Any, old: Any, new: Any, count: Any) -> int:
    """``s.replace(old, new, count)`` for str and bytes (0 for anything else)."""
    if not isinstance(s, str | bytes) or not isinstance(old, str | bytes):
        return 0
    found = len(s) + 1 if not old else s.count(old)  # type: ignore[arg-type]
    if isinstance(count, int) and 0 <= count < found:
        found = count
    grow = len(new) - len(old) if isinstance(new, str | bytes) else 0
    return len(s) + found * max(grow, 0)


def _width_size(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> int:
    width = args[0] if args else kwargs.get("width", 0)
    return max(len(owner), width if isinstance(width, int) else 0)


def _expandtabs_size(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> int:
    tabsize = args[0] if args else kwargs.get("tabsize", 8)
    tabs: int = owner.count("\t" if isinstance(owner, str) else b"\t")
    return len(owner) + tabs * (tabsize if isinstance(tabsize, int) else 0)


def _join_method_size(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> int:
    return joined_size(owner, args[0], limit) if args else 0


def _replace_method_size(
    owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int
) -> int:
    if len(args) < 2:
        return 0
    return replaced_size(owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count"))


def _translate_size(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> int:
    table = args[0] if args else None
    if not isinstance(table, Mapping):
        return len(owner)
    longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
    return len(owner) * longest


MethodCheck = Callable[[Any, tuple[Any, ...], dict[str, Any], int], int]
#: str/bytes/list methods that can build a big value: name -> size of its result, from
#: (the object, args, kwargs, the limit).
METHOD_CHECKS: dict[str, MethodCheck] = {
    "center": _width_size,
    "ljust": _width_size,
    "rjust": _width_size,
    "zfill": _width_size,
    "expandtabs": _expandtabs_size,
    "join": _join_method_size,
    "replace": _replace_method_size,
    "translate": _translate_size,
}
