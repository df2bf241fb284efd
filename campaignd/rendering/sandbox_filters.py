"""The sandbox's filter guards: every Jinja filter ticks the clock and has its result counted;
the ones that can build a big value have their result's size checked before they run."""

from __future__ import annotations

import functools
import inspect
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jinja2.filters import make_attrgetter

from campaignd.errors import TemplateError
from campaignd.rendering.sandbox_sizes import (
    joined_size,
    percent_size,
    replaced_size,
    size_of,
    text_size,
)

if TYPE_CHECKING:
    from campaignd.rendering.sandbox import LimitedSandbox

#: ``|slice`` makes at most this many slices.
MAX_SLICES = 1_000

_TEXT_FILTERS = frozenset(
    {"string", "e", "escape", "forceescape", "tojson", "pprint", "urlize", "safe", "upper",
     "lower", "title", "capitalize", "trim", "striptags", "urlencode", "xmlattr", "list"}
)  # fmt: skip

_Check = Callable[[dict[str, Any]], int]


def guard_filters(env: LimitedSandbox) -> None:
    """Replace ``wordwrap`` with a checked one and wrap every filter of `env` in its guard."""
    limit = env.max_output
    checks: dict[str, _Check] = {
        "center": _center,
        "indent": lambda a: _indent(a, limit),
        "join": lambda a: _join(env, a),
        "replace": lambda a: replaced_size(a["s"], a["old"], a["new"], a["count"]),
        "format": lambda a: percent_size(a["value"], a["kwargs"] or a["args"], limit),
        "batch": lambda a: a["linecount"] if a["fill_with"] is not None else 0,
        "slice": _slices,
        "sum": lambda a: _sum(env, a),
    }
    env.filters["wordwrap"] = _wordwrap_filter(env)
    env.filters = {
        name: _guard_filter(env, name, f, checks.get(name)) for name, f in env.filters.items()
    }


def _guard_filter(
    env: LimitedSandbox, name: str, func: Callable[..., Any], check: _Check | None
) -> Callable[..., Any]:
    what = f"filter {name!r}"
    text = name in _TEXT_FILTERS
    if check is None and not text:

        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            env.tick()
            return env.check_result(what, func(*args, **kwargs))

        return guarded
    signature = inspect.signature(func)
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    # Jinja's async variants take an eval context their (sync) signature does not show.
    first = next(iter(signature.parameters), "")
    unbound = skip if first not in ("environment", "eval_ctx", "context") else 0
    limit = env.max_output

    @functools.wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        env.tick()
        if text:
            if len(args) > skip:
                env.refuse_over(what, text_size(args[skip], limit))
        else:
            assert check is not None
            if (
                name in ("join", "sum")
                and len(args) > skip
                and not isinstance(args[skip], list | tuple)
            ):
                # a generator is read once: read it here, for the check and the filter
                args = (*args[:skip], list(env.guard_iter(args[skip])), *args[skip + 1 :])
            bound = signature.bind(*args[unbound:], **kwargs)
            bound.apply_defaults()
            env.refuse_over(what, check(bound.arguments))
        return env.check_result(what, func(*args, **kwargs))

    return checked


def _center(a: dict[str, Any]) -> int:
    width = a["width"]
    return max(size_of(a["value"]), width if isinstance(width, int) else 0)


def _indent(a: dict[str, Any], limit: int) -> int:
    s, width = a["s"], a["width"]
    pad = width if isinstance(width, int) else text_size(width, limit)
    lines = s.count("\n") + 1 if isinstance(s, str) else 1
    return text_size(s, limit) + lines * max(pad, 0)


def _join(env: LimitedSandbox, a: dict[str, Any]) -> int:
    items, attribute = a["value"], a["attribute"]
    if attribute is not None:
        items = list(map(make_attrgetter(env, attribute), items))
    return joined_size(a["d"], items, env.max_output)


def _slices(a: dict[str, Any]) -> int:
    slices = a["slices"]
    if isinstance(slices, int) and slices > MAX_SLICES:
        raise TemplateError(f"filter 'slice': {slices} slices is over the limit of {MAX_SLICES}")
    return 0


def _sum(env: LimitedSandbox, a: dict[str, Any]) -> int:
    """Summing lists or tuples: the total length, and the copying (``sum`` copies the
    total so far for each item) checked against the work limit."""
    start, items = a["start"], a["iterable"]
    if not isinstance(start, list | tuple):
        return 0
    if a["attribute"] is not None:
        items = list(map(make_attrgetter(env, a["attribute"]), items))
    total = copied = len(start)
    for item in items:
        total += size_of(item)
        copied += total
        if copied > env.max_work:
            raise TemplateError(
                f"filter 'sum': adding up these lists copies more than {env.max_work} items"
            )
    return total


def _wordwrap_filter(env: LimitedSandbox) -> Callable[..., str]:
    def wordwrap(
        s: str,
        width: int = 79,
        break_long_words: bool = True,
        wrapstring: str | None = None,
        break_on_hyphens: bool = True,
    ) -> str:
        """Jinja's ``wordwrap``, with its cost checked: wrapping a long word cuts one line at a
        time and copies the rest each time, so a 200,000-character word at width 1 takes
        seconds; the total copying and the joined length are checked before they happen."""
        s = str(s)
        wrapstring = env.newline_sequence if wrapstring is None else str(wrapstring)
        if not isinstance(width, int) or width < 1:
            raise TemplateError("filter 'wordwrap': the width must be a positive number")
        if break_long_words:
            cost = sum(len(w) * len(w) // (2 * width) for w in s.split() if len(w) > width)
            if cost > env.max_work:
                raise TemplateError(
                    f"filter 'wordwrap': words this long ({max(map(len, s.split()))} characters)"
                    f" at width {width} are too costly to wrap"
                )
        wrapper = textwrap.TextWrapper(
            width=width,
            expand_tabs=False,
            replace_whitespace=False,
            break_long_words=break_long_words,
            break_on_hyphens=break_on_hyphens,
        )
        paragraphs: list[list[str]] = []
        size = 0
        for line in s.splitlines():
            env.tick()
            lines = wrapper.wrap(line)
            size += sum(map(len, lines)) + len(wrapstring) * max(len(lines), 1)
            if size > env.max_output:
                raise env.too_big("filter 'wordwrap'")
            paragraphs.append(lines)
        return wrapstring.join([wrapstring.join(lines) for lines in paragraphs])

    return wordwrap
