"""Which subscriber attributes templates use, found statically in their Jinja2 syntax trees.

A use is ``subscriber.attributes.city``, ``subscriber.attributes["city"]`` or
``subscriber.attributes.get("city")`` (also through ``{% set a = subscriber.attributes %}`` or
``{% with %}``); the name is the top-level key (``.address.city`` uses ``address``). Uses that
cannot fail or print a missing attribute are left out: a truth test (``{% if a.city %}``,
``a.city is defined``, ``and``/``or``/``not`` of those), a loop over it, ``| default(...)``,
``.get("city", fallback)``, and uses inside an ``{% if %}``/``x if ... else`` whose test
requires the attribute. A key computed at run time (``attributes[name]``) is not known here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import jinja2
from jinja2 import nodes

from campaignd.errors import TemplateError

_DICT_NAMES = frozenset(dir(dict))  # subscriber.attributes.items is the method, not a key
_GUARD_FILTERS = frozenset({"default", "d"})
_GUARD_TESTS = frozenset({"defined", "undefined"})
_PARSER = jinja2.Environment(autoescape=True)  # only parses: nothing is rendered with it


class _Finder:
    def __init__(self, tree: nodes.Template) -> None:
        self.subscribers = {"subscriber"}  # names bound to the subscriber
        self.attributes: set[str] = set()  # names bound to subscriber.attributes
        self.used: set[str] = set()
        self._aliases(tree)

    # -- what a node is
    def _is_subscriber(self, node: nodes.Node) -> bool:
        return isinstance(node, nodes.Name) and node.name in self.subscribers

    def _is_attributes(self, node: nodes.Node) -> bool:
        if isinstance(node, nodes.Name):
            return node.name in self.attributes
        if isinstance(node, nodes.Getattr):
            return node.attr == "attributes" and self._is_subscriber(node.node)
        if isinstance(node, nodes.Getitem):
            return _const(node.arg) == "attributes" and self._is_subscriber(node.node)
        return False

    def key(self, node: nodes.Node) -> str | None:
        """The attribute `node` reads, if it reads one by a constant name."""
        if isinstance(node, nodes.Getattr):
            if node.attr not in _DICT_NAMES and self._is_attributes(node.node):
                return node.attr
        elif isinstance(node, nodes.Getitem):
            if self._is_attributes(node.node):
                return _const(node.arg)
        elif isinstance(node, nodes.Call) and _is_get(node) and len(node.args) == 1:
            assert isinstance(node.node, nodes.Getattr)
            if self._is_attributes(node.node.node) and not node.kwargs:
                return _const(node.args[0])
        return None

    def _aliases(self, tree: nodes.Template) -> None:
        """Names bound to the subscriber or its attributes, until nothing new is found."""
        while True:
            before = len(self.subscribers) + len(self.attributes)
            for target, value in _bindings(tree):
                if self._is_subscriber(value):
                    self.subscribers.add(target)
                elif self._is_attributes(value):
                    self.attributes.add(target)
            if len(self.subscribers) + len(self.attributes) == before:
                return

    # -- guards
    def truthy(self, test: nodes.Node) -> set[str]:
        """Attributes `test` only tests for truth or presence (no failure when missing)."""
        if (k := self.key(test)) is not None:
            return {k}
        if isinstance(test, nodes.Not):
            return self.truthy(test.node)
        if isinstance(test, nodes.And | nodes.Or):
            return self.truthy(test.left) | self.truthy(test.right)
        if isinstance(test, nodes.Test) and test.name in _GUARD_TESTS:
            k = self.key(test.node)
            return {k} if k is not None else set()
        return set()

    def required(self, test: nodes.Node) -> set[str]:
        """Attributes that must be present (and true) for `test` to hold."""
        if (k := self.key(test)) is not None:
            return {k}
        if isinstance(test, nodes.And):
            return self.required(test.left) | self.required(test.right)
        if isinstance(test, nodes.Test) and test.name == "defined":
            k = self.key(test.node)
            return {k} if k is not None else set()
        if (
            isinstance(test, nodes.Not)
            and isinstance(test.node, nodes.Test)
            and test.node.name == "undefined"
            and (k := self.key(test.node.node)) is not None
        ):
            return {k}
        return set()

    # -- the walk
    def visit(self, node: nodes.Node, safe: frozenset[str] = frozenset()) -> None:
        k = self.key(node)
        if k is not None:
            if k not in safe:
                self.used.add(k)
            return
        if isinstance(node, nodes.If):
            self.visit(node.test, safe | self.truthy(node.test))
            self._all(node.body, safe | self.required(node.test))
            self._all(node.elif_, safe)
            self._all(node.else_, safe)
        elif isinstance(node, nodes.CondExpr):
            self.visit(node.test, safe | self.truthy(node.test))
            self.visit(node.expr1, safe | self.required(node.test))
            if node.expr2 is not None:
                self.visit(node.expr2, safe)
        elif isinstance(node, nodes.For):
            if self.key(node.iter) is None:
                self.visit(node.iter, safe)
            self._all([node.target, *node.body, *node.else_], safe)
            if node.test is not None:
                self.visit(node.test, safe | self.truthy(node.test))
        elif isinstance(node, nodes.Filter | nodes.Test) and (
            node.name in _GUARD_FILTERS or node.name in _GUARD_TESTS
        ):
            if node.node is not None and self.key(node.node) is None:
                self.visit(node.node, safe)
            self._all([*node.args, *node.kwargs], safe)
        elif isinstance(node, nodes.Call) and _is_get(node):
            # .get("city", fallback) cannot fail; a computed key is unknown here
            self._all([*node.args, *node.kwargs], safe)
        else:
            self._all(node.iter_child_nodes(), safe)

    def _all(self, children: Iterable[nodes.Node], safe: frozenset[str]) -> None:
        for child in children:
            self.visit(child, safe)


def _const(node: nodes.Node) -> str | None:
    return node.value if isinstance(node, nodes.Const) and isinstance(node.value, str) else None


def _is_get(node: nodes.Call) -> bool:
    return isinstance(node.node, nodes.Getattr) and node.node.attr == "get"


def _bindings(tree: nodes.Template) -> Iterable[tuple[str, nodes.Node]]:
    for assign in tree.find_all(nodes.Assign):
        if isinstance(assign.target, nodes.Name):
            yield assign.target.name, assign.node
    for with_ in tree.find_all(nodes.With):
        for target, value in zip(with_.targets, with_.values, strict=False):
            if isinstance(target, nodes.Name):
                yield target.name, value


def used_attributes(source: str) -> set[str]:
    """The attribute names one template uses where a missing one prints or fails."""
    try:
        tree = _PARSER.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: {exc.message}") from None
    finder = _Finder(tree)
    finder.visit(tree)
    return finder.used


def attribute_uses(templates: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Attribute name -> the fields (subject, body, ...) using it, for templates by field."""
    out: dict[str, list[str]] = {}
    for field, source in templates.items():
        try:
            names = used_attributes(source)
        except TemplateError as exc:
            raise TemplateError(f"{field}: {exc}") from None
        for name in names:
            out.setdefault(name, []).append(field)
    return {name: tuple(fields) for name, fields in sorted(out.items())}
