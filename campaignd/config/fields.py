"""Field types shared by the settings sections: durations, paths, one-line text, enums, headers."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, field_validator

from campaignd.config.checks import check_one_line, is_field_name

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as "10ms", "15s", "1h"."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15s, 10ms or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError("expected a duration such as 15s, 10ms or 1h")


Duration = Annotated[float, BeforeValidator(parse_duration)]
OptionalPath = Annotated[Path | None, BeforeValidator(lambda v: None if v == "" else v)]
OneLine = Annotated[str, AfterValidator(check_one_line)]  # ends up in a header or SMTP command


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def case_insensitive(enum: type[StrEnum]) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            for member in enum:
                if member.value.lower() == value.strip().lower():
                    return member
        return value

    return BeforeValidator(convert)


class Header(Frozen):
    name: str
    value: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_field_name(value):
            raise ValueError("must be 1-76 printable ASCII characters without ':'")
        return value

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        check_one_line(value.replace("\t", " "))
        return value
