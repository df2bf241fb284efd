"""A Jinja2 sandbox that also bounds run time and output size (Jinja's own sandbox does not).

``LimitedSandbox`` is an ``ImmutableSandboxedEnvironment`` (no ``__class__``, ``mro``,
``__subclasses__``, no mutation of lists and dicts, sandboxed ``str.format``) with
``StrictUndefined`` and these additions:

- every ``for`` loop iterates through a guard that checks the clock every 256 items, and every
  call (functions, macros, methods) and filter checks it too: no loop, nested loop or recursion
  runs past ``timeout`` seconds without raising TemplateError;
- calls, filters and the ``*``, ``**`` and ``%`` operators refuse work whose result would be larger
  than ``max_output`` (``"x" * 10**9``, ``10**10**10``, ``"%0999999999d" % 1``, ``center(10**9)``,
  ``"{:>999999999}".format(1)``) before doing it, and check the size of what they return;
- ``namespace()`` objects refuse values larger than ``max_output`` (doubling a string in a loop);
- ``lipsum`` is gone, and ``date(fmt)`` formats refuse field widths.

The deadline is per thread and set by ``start()`` before each render.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from campaignd.errors import TemplateError

_BIG_NUMBER = re.compile(r"\d{7,}")
_AMPLIFYING_FILTERS = frozenset(
    {"center", "indent", "wordwrap", "replace", "join", "batch", "slice", "format", "truncate"}
)
_AMPLIFYING_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "join", "replace", "format", "format_map"}
)


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Deadline(threading.local):
    at: float = math.inf


def _size(value: Any) -> int:
    if isinstance(value, str | list | tuple | dict | bytes):
        return len(value)
    return 0


def _weight(value: Any) -> int:
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return abs(value)
    return _size(value)


class _GuardedCodeGenerator(CodeGenerator):
    """Wraps every for-loop iterable in ``environment.guard_iter(...)`` before compiling."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("guard_iter"), [loop.iter], [], None, None
            )
        super().visit_Template(node, frame)


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """See the module docstring."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *, max_output: int, timeout: float) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            auto_reload=False,
            cache_size=0,
        )
        self.max_output = max_output
        self.timeout = timeout
        self._deadline = _Deadline()
        self.globals.pop("lipsum", None)
        self.globals["namespace"] = _limited_namespace(max_output)
        self.trust()
        self.filters = {name: self._guard_filter(name, f) for name, f in self.filters.items()}

    # -- clock
    def start(self) -> None:
        """Start the clock for one render on this thread."""
        self._deadline.at = time.monotonic() + self.timeout

    def stop(self) -> None:
        self._deadline.at = math.inf

    def tick(self) -> None:
        if time.monotonic() > self._deadline.at:
            raise TemplateError(f"the template ran longer than {self.timeout:g}s and was stopped")

    def guard_iter(self, iterable: Any) -> Any:
        tick = self.tick
        for i, item in enumerate(iterable):
            if not i & 255:
                tick()
            yield item

    # -- size
    def _too_big(self, what: str) -> TemplateError:
        return TemplateError(f"{what} would produce more than {self.max_output} characters")

    def _check_result(self, what: str, value: Any) -> Any:
        if _size(value) > self.max_output:
            raise self._too_big(what)
        return value

    def _check_format_string(self, what: str, fmt: Any) -> None:
        if isinstance(fmt, str):
            for number in _BIG_NUMBER.findall(fmt):
                if int(number) > self.max_output:
                    raise self._too_big(what)

    def _check_product(self, what: str, weights: list[int]) -> None:
        weights = sorted((w for w in weights if w > 1), reverse=True)[:2]
        if math.prod(weights) > self.max_output:
            raise self._too_big(what)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        if operator == "*":
            self._check_product("'*'", [_weight(left), _weight(right)])
        elif operator == "**":
            ints = isinstance(left, int) and isinstance(right, int)
            if (
                ints
                and abs(left) > 1
                and right > 0
                and left.bit_length() * right > 8 * self.max_output
            ):
                raise self._too_big("'**'")
        elif operator == "%":
            self._check_format_string("'%'", left)
        return self._check_result(
            f"'{operator}'", super().call_binop(context, operator, left, right)
        )

    def trust(
        self,
        *,
        types: tuple[type, ...] = (),
        mappings: tuple[type[dict[str, Any]], ...] = (),
        functions: tuple[Any, ...] = (),
    ) -> None:
        """Plain data classes whose public attributes are all safe, dict subclasses whose items
        are plain data, and bounded functions that take the context first: all skip the
        generic checks (much of the render time).

        ``obj.name`` on a trusted mapping is ``obj[name]`` (its ``__missing__`` included)
        unless the type has an attribute of that name, then it takes the generic path: the
        same result as the generic path gives, which tries the attribute first."""
        self._plain_names = {
            kind: frozenset(name for name in dir(kind) if not name.startswith("_"))
            for kind in types
        }
        self._mapping_names = {kind: frozenset(dir(kind)) for kind in mappings}
        self._trusted_calls = frozenset(id(f) for f in functions)
        self._kept_alive = functions

    def getattr(self, obj: Any, attribute: str) -> Any:
        kind = type(obj)
        names = self._plain_names.get(kind)
        if names is not None:
            if attribute in names:
                try:
                    return getattr(obj, attribute)
                except AttributeError:
                    pass
        elif kind is dict:
            if attribute not in _DICT_ATTRIBUTES and attribute in obj:
                return obj[attribute]
        else:
            names = self._mapping_names.get(kind)
            if names is not None and attribute not in names:
                return obj[attribute]
        return super().getattr(obj, attribute)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.tick()
        if id(__obj) in __self._trusted_calls:  # all take the context first (pass_context)
            return __obj(__context, *args, **kwargs)
        target = getattr(__obj, "__wrapped__", __obj)  # sandboxed str.format wrappers
        owner = getattr(target, "__self__", None)
        name = getattr(target, "__name__", "")
        if isinstance(owner, str | list | tuple) and name in _AMPLIFYING_METHODS:
            __self._check_format_string(f"{name}()", owner)
            weights = [len(owner)] + [_weight(a) for a in (*args, *kwargs.values())]
            __self._check_product(f"{name}()", weights)
        result = super().call(__context, __obj, *args, **kwargs)
        return __self._check_result(f"{name or 'the call'}()", result)

    def _guard_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        amplifying = name in _AMPLIFYING_FILTERS
        what = f"filter {name!r}"

        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.tick()
            if amplifying:
                values = (*args, *kwargs.values())
                if name == "format":
                    for value in values:
                        self._check_format_string(what, value)
                self._check_product(what, [_weight(v) for v in values])
            return self._check_result(what, func(*args, **kwargs))

        return guarded


def _limited_namespace(limit: int) -> type[Namespace]:
    class LimitedNamespace(Namespace):
        def __setitem__(self, name: str, value: Any) -> None:
            if _size(value) > limit:
                raise TemplateError(f"a namespace value would exceed {limit} characters")
            super().__setitem__(name, value)

    return LimitedNamespace


_STRFTIME_WIDTH = re.compile(r"%[-_0^#]*\d")


def format_date(now: Any, fmt: str) -> str:
    """``now.strftime(fmt)`` for templates: short formats without field widths only."""
    if not isinstance(fmt, str) or len(fmt) > 100 or _STRFTIME_WIDTH.search(fmt):
        raise TemplateError("date(): the format must be a short strftime format without widths")
    result: str = now.strftime(fmt)
    return result


def merged_globals(env: LimitedSandbox, extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(env.globals)
    out.update(extra)
    return out
