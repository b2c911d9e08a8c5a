"""Typed template parameters: declared in YAML, checked and coerced before any query runs.

Values reach DuckDB only as bound query parameters, so a parameter is data, never SQL: the
coercion here is what guarantees that a ``date`` is a date and a ``list[str]`` a list of
strings by the time it is bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import yaml

PARAM_TYPES = ("int", "float", "str", "bool", "date", "list[str]")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    line: int | None = None


def coerce(ptype: str, value: Any) -> Any:
    """Return ``value`` as ``ptype`` or raise ValueError saying what was expected."""
    if ptype == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an int, got {_show(value)}")
        return value
    if ptype == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {_show(value)}")
        return float(value)
    if ptype == "str":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_show(value)}")
        return value
    if ptype == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_show(value)}")
        return value
    if ptype == "date":
        return _as_date(value)
    if ptype == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"expected a list of strings, got {_show(value)}")
        return list(value)
    raise ValueError(f"unknown param type '{ptype}' (one of {', '.join(PARAM_TYPES)})")


def check_value(param: Param, value: Any) -> Any:
    """Coerce and range-check one value for ``param``; ValueError names the param."""
    try:
        value = coerce(param.type, value)
    except ValueError as err:
        raise ValueError(f"param '{param.name}' ({param.type}): {err}") from None
    if param.type not in ("int", "float"):
        return value
    if param.min is not None and value < param.min:
        raise ValueError(f"param '{param.name}' = {value} is below its min {param.min}")
    if param.max is not None and value > param.max:
        raise ValueError(f"param '{param.name}' = {value} is above its max {param.max}")
    return value


def parse_cli_value(ptype: str, text: str) -> Any:
    """A ``--set`` value as typed on the command line, read as YAML then coerced."""
    if ptype == "str":
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    if ptype == "list[str]" and isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    return coerce(ptype, value)


def render(value: Any) -> str:
    """A value as a reader would write it in a rule: 5000, 'Maharashtra', 2027-02-20."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "(" + ", ".join(render(v) for v in value) + ")"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"expected an ISO date (YYYY-MM-DD), got {_show(value)}")


def _show(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"
