"""A Jinja2 sandbox that also bounds run time, memory and output size (Jinja's own does not).

``LimitedSandbox`` is an ``ImmutableSandboxedEnvironment`` (no ``__class__``, ``mro``,
``__subclasses__``, no mutation of lists and dicts, sandboxed ``str.format``) with
``StrictUndefined`` and these additions:

- every ``for`` loop iterates through a guard that checks the clock every 256 items, and every
  call (functions, macros, methods), filter and intercepted operator checks it too: no loop,
  nested loop or recursion runs past ``timeout`` seconds without raising TemplateError;
- the operations that can make a big value from a small template are checked BEFORE they
  run, from their operands: ``*`` (``"x" * 10**9``), ``**``, ``+`` and ``~`` (doubling a string),
  ``%`` and ``|format`` (widths and precisions, ``*`` ones included: ``"%*s" % (10**9, "x")``),
  ``str.format`` (each field's width and precision after nested fields are filled in:
  ``"{:{}}".format(x, 10**9)``), the filters ``center``, ``indent``, ``wordwrap``, ``join``,
  ``replace``, ``batch``, ``slice``, ``sum`` and the ones that turn a list into text, the
  methods ``center``, ``ljust``, ``rjust``, ``zfill``, ``expandtabs``, ``join``, ``replace``,
  ``translate``, and printing a list (``{{ list }}``): what would exceed ``max_output``
  characters is refused with a TemplateError naming the operation and the limit;
- what those operations return is counted: a render that builds more than ``WORK_FACTOR``
  times ``max_output`` characters in all is stopped (bounds memory held across a recursion);
- ``range()`` refuses more than ``MAX_RANGE`` items with a TemplateError (not a data error);
- ``namespace()`` objects refuse values larger than ``max_output``;
- ``lipsum`` is gone, and ``date(fmt)`` formats refuse field widths.

The deadline is per thread and set by ``start()`` before each render. ``start(budget=...)``
sets a shorter deadline that raises ``SlowRender`` instead: a render on the event loop gives
up early and is run again in a thread with the full ``timeout`` (see campaignd.rendering.compose).

The size estimates are pure functions in sandbox_sizes.py; the filter guards (and the checked
``wordwrap``) are in sandbox_filters.py. This module has the environment: clock, operators,
calls, attributes, ``str.format``, and the code generator's hooks.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.runtime import Context
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from jinja2.utils import Namespace
from markupsafe import Markup

from campaignd.errors import SlowRender, TemplateError
from campaignd.rendering.sandbox_filters import guard_filters
from campaignd.rendering.sandbox_sizes import (
    METHOD_CHECKS,
    percent_size,
    size_of,
    text_size,
    weight_of,
)

#: Items a ``range()`` may have (Jinja's sandbox limit).
MAX_RANGE = 100_000
#: A render may build at most this many times ``max_output`` characters in all.
WORK_FACTOR = 32

_DICT_ATTRIBUTES = frozenset(dir(dict))
_DIGITS = re.compile(r"\d+")


class _RenderState(threading.local):
    at: float = math.inf
    budget: bool = False  # `at` is the event-loop budget (thread CPU time), not the timeout
    work: int = 0


class _GuardedCodeGenerator(CodeGenerator):
    """Wraps every for-loop iterable in ``environment.guard_iter(...)``, sends every ``~``
    through ``environment.concat_checked`` and every printed non-str through
    ``environment.check_printed``."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("guard_iter"), [loop.iter], [], None, None
            )
        super().visit_Template(node, frame)

    # ``{{ x }}`` compiles to ``str(x)``/``escape(x)``; these make it ``str(v if (v := x).__class__
    # is str else environment.check_printed(v))``: a str costs a compare, not a call.
    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        super()._output_child_pre(node, frame, finalize)
        self.write("(_cd_v if (_cd_v := ")

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        self.write(").__class__ is str else environment.check_printed(_cd_v))")
        super()._output_child_post(node, frame, finalize)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"environment.concat_checked({func_name}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _LimitedFormatter(SandboxedFormatter):
    """``str.format`` that checks each field's width and precision (nested fields filled in)
    and the running length before formatting the field."""

    def __init__(self, env: LimitedSandbox, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._limited = env
        self._used = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        env = self._limited
        env.tick()
        wanted = self._used + text_size(value, env.max_output)
        wanted += sum(int(d) for d in _DIGITS.findall(format_spec))
        if wanted > env.max_output:
            raise env.too_big("format()")
        result = super().format_field(value, format_spec)
        self._used += len(result)
        return result


class _LimitedEscapeFormatter(_LimitedFormatter, SandboxedEscapeFormatter):
    pass


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """See the module docstring."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *, max_output: int, timeout: float) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            auto_reload=False,
            cache_size=0,
        )
        self.max_output = max_output
        self.max_work = WORK_FACTOR * max_output
        self.timeout = timeout
        self._state = _RenderState()
        self.globals.pop("lipsum", None)
        self.globals["namespace"] = _limited_namespace(max_output)
        self.globals["range"] = _limited_range
        self.trust()
        guard_filters(self)

    # -- clock
    def start(self, budget: float | None = None) -> None:
        """Start the clock for one render on this thread. With a budget shorter than the
        timeout, the render raises SlowRender once it has used that much CPU time (CPU, not
        wall time: a render preempted on a busy machine is not a slow one)."""
        state = self._state
        state.work = 0
        state.budget = budget is not None and budget < self.timeout
        if state.budget and budget is not None:
            state.at = time.thread_time() + budget
        else:
            state.at = time.monotonic() + self.timeout

    def stop(self) -> None:
        self._state.at = math.inf
        self._state.budget = False

    def tick(self) -> None:
        state = self._state
        if state.budget:
            if time.thread_time() > state.at:
                raise SlowRender("the render is slow: run it in a thread")
        elif time.monotonic() > state.at:
            raise TemplateError(f"the template ran longer than {self.timeout:g}s and was stopped")

    def guard_iter(self, iterable: Any) -> Any:
        tick = self.tick
        for i, item in enumerate(iterable):
            if not i & 255:
                tick()
            yield item

    # -- size
    def too_big(self, what: str) -> TemplateError:
        return TemplateError(
            f"{what} would produce more than {self.max_output} characters (template_max_output)"
        )

    def refuse_over(self, what: str, size: int) -> None:
        if size > self.max_output:
            raise self.too_big(what)

    def check_result(self, what: str, value: Any) -> Any:
        size = size_of(value)
        if size > self.max_output:
            raise self.too_big(what)
        state = self._state
        state.work += size
        if state.work > self.max_work:
            raise TemplateError(
                f"the template built more than {self.max_work} characters of values "
                f"({WORK_FACTOR} × template_max_output) and was stopped"
            )
        return value

    def _check_product(self, what: str, weights: list[int]) -> None:
        weights = sorted((w for w in weights if w > 1), reverse=True)[:2]
        if math.prod(weights) > self.max_output:
            raise self.too_big(what)

    def check_printed(self, value: Any) -> Any:
        """``{{ value }}`` of anything but a str: a list or dict is checked before it is
        turned into text."""
        if type(value) is not str and isinstance(value, list | tuple | dict | set | frozenset):
            self.refuse_over("printing a list", text_size(value, self.max_output))
        return value

    def concat_checked(self, join: Callable[[Any], str], parts: tuple[Any, ...]) -> str:
        """``a ~ b``: the parts' total length is checked before they are joined."""
        self.tick()
        limit = self.max_output
        size = 0
        for part in parts:
            size += text_size(part, limit)
        self.refuse_over("'~'", size)
        return self.check_result("'~'", join(parts))  # type: ignore[no-any-return]

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        if operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > 8 * self.max_output:
                    raise self.too_big("'*'")
            else:
                self._check_product("'*'", [weight_of(left), weight_of(right)])
        elif operator == "**":
            ints = isinstance(left, int) and isinstance(right, int)
            if (
                ints
                and abs(left) > 1
                and right > 0
                and left.bit_length() * right > 8 * self.max_output
            ):
                raise self.too_big("'**'")
        elif operator == "%":
            self.refuse_over("'%'", percent_size(left, right, self.max_output))
        elif operator == "+":
            self.refuse_over("'+'", size_of(left) + size_of(right))
        return self.check_result(
            f"'{operator}'", super().call_binop(context, operator, left, right)
        )

    def trust(
        self,
        *,
        types: tuple[type, ...] = (),
        mappings: tuple[type[dict[str, Any]], ...] = (),
        functions: tuple[Any, ...] = (),
        labels: Mapping[type, str] | None = None,
    ) -> None:
        """Plain data classes whose public attributes are all safe, dict subclasses whose items
        are plain data, and bounded functions that take the context first: all skip the
        generic checks (much of the render time).

        ``obj.name`` on a trusted mapping is ``obj[name]`` (its ``__missing__`` included)
        unless the type has an attribute of that name, then it takes the generic path: the
        same result as the generic path gives, which tries the attribute first.

        ``labels`` names trusted types in errors: ``subscriber.nmae`` is refused with
        "subscriber has no field 'nmae' (did you mean name?); its fields: ..."."""
        self._labels = dict(labels or {})
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
            elif kind in self._labels and not attribute.startswith("_"):
                hint = no_field(self._labels[kind], kind, attribute)
                return self.undefined(obj=obj, name=attribute, hint=hint)
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
        if isinstance(owner, str | bytes | list | tuple) and name in METHOD_CHECKS:
            if name == "join" and len(args) == 1 and not isinstance(args[0], list | tuple):
                args = (list(__self.guard_iter(args[0])),)
            size = METHOD_CHECKS[name](owner, args, kwargs, __self.max_output)
            __self.refuse_over(f"{name}()", size)
        result = super().call(__context, __obj, *args, **kwargs)
        return __self.check_result(f"{name or 'the call'}()", result)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's sandboxed ``str.format``/``format_map``, with the limited formatter."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        f_self: str = value.__self__
        is_format_map = value.__name__ == "format_map"
        str_type = type(f_self)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            formatter: _LimitedFormatter
            if isinstance(f_self, Markup):
                formatter = _LimitedEscapeFormatter(self, escape=f_self.escape)
            else:
                formatter = _LimitedFormatter(self)
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(f_self, args, kwargs))

        return functools.update_wrapper(wrapper, value)


def no_field(label: str, kind: type, attribute: str) -> str:
    """The error for a field a template object lacks: the closest one, and all of them."""
    if dataclasses.is_dataclass(kind):
        fields = [f.name for f in dataclasses.fields(kind) if not f.name.startswith("_")]
    else:
        fields = sorted(n for n in dir(kind) if not n.startswith("_"))
    line = f"{label} has no field {attribute!r}"
    close = difflib.get_close_matches(attribute.lower(), fields, n=1, cutoff=0.6)
    if close:
        line += f" (did you mean {label}.{close[0]}?)"
    line += f"; its fields: {', '.join(fields)}"
    if "attributes" in fields:
        line += f"; an imported attribute is {label}.attributes.{attribute}"
    return line


def _limited_range(*args: int) -> range:
    """``range()`` in templates: at most MAX_RANGE items, else a TemplateError."""
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise TemplateError(f"range() of {len(result)} items is over the limit of {MAX_RANGE}")
    return result


def _limited_namespace(limit: int) -> type[Namespace]:
    class LimitedNamespace(Namespace):
        def __setitem__(self, name: str, value: Any) -> None:
            if size_of(value) > limit:
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
