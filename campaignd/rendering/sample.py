"""Permissive sample attributes for checking templates before any real subscriber exists.

Subscribers' attributes legitimately differ, so a check must accept ``subscriber.attributes.city``
(or ``.address.city``, ``["x"]``, loops over a list attribute, comparisons and arithmetic)
while still catching a misspelt ``subscriber.nmae``: every attribute key exists and holds a
``SampleValue``, a string placeholder that tolerates any use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class SampleValue(str):
    """A placeholder such as ``[city]`` that any attribute, item, operator or loop accepts."""

    __slots__ = ()

    def __getattr__(self, name: str) -> SampleValue:
        if name.startswith("_"):
            raise AttributeError(name)
        return SampleValue(f"[{self.strip('[]')}.{name}]")

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return SampleValue(f"[{self.strip('[]')}.{key}]")
        return super().__getitem__(key)

    def __iter__(self) -> Iterator[Any]:
        return iter((SampleValue(f"[{self.strip('[]')} item]"),))

    def _same(self, *_: Any) -> SampleValue:
        return self

    def _false(self, other: Any) -> bool:
        return str.__eq__(self, other) is True

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _same
    __mod__ = __rmod__ = __pow__ = __rpow__ = __neg__ = __pos__ = _same
    __lt__ = __le__ = __gt__ = __ge__ = _false

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other) is True

    def __hash__(self) -> int:
        return str.__hash__(self)

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0

    def __round__(self, ndigits: int | None = None) -> int:
        return 0


class SampleAttributes(Mapping[str, Any]):
    """Every key is present (iteration shows none)."""

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str) or key.startswith("_"):
            raise KeyError(key)
        return SampleValue(f"[{key}]")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and not key.startswith("_")


def sample_attributes() -> Mapping[str, Any]:
    return SampleAttributes()
