"""Strict-schema helpers shared by template and campaign files.

Checks collect every problem of a file (as ``ConfigError`` with file and line) instead of
stopping at the first, so one ``segflow templates check`` run shows everything to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from segflow.errors import ConfigError
from segflow.suggest import nearest
from segflow.yamlio import LineDict, load_yaml


class Problems(list):
    """The errors found in one or more files, in the order they were found."""

    def add(self, path: Path | str, line: int | None, problem: str) -> None:
        self.append(ConfigError(path, line, problem))


def check_keys(
    data: Any, path: Path, problems: Problems, what: str, required: Iterable[str],
    optional: Iterable[str], line: int | None = None,
) -> bool:
    """Unknown keys and missing required keys of one mapping; False if not a mapping."""
    if not isinstance(data, dict):
        problems.add(path, line, f"{what} must be a mapping, got {type(data).__name__}")
        return False
    required, optional = list(required), list(optional)
    allowed = required + optional
    for key in data:
        if key not in allowed:
            problems.add(path, _line(data, key), f"unknown key '{key}' in {what}"
                         f"{nearest(str(key), allowed)}; allowed: {', '.join(allowed)}")
    start = getattr(data, "start_line", line)
    for key in required:
        if key not in data:
            problems.add(path, start, f"{what} is missing required key '{key}'")
    return True


def expect(data: dict, key: str, types: type | tuple, path: Path, problems: Problems,
           what: str) -> bool:
    """False (and a recorded problem) if ``data[key]`` is present and not of ``types``.

    An absent key passes: required keys are reported once, by ``check_keys``.
    """
    if key not in data:
        return True
    value = data[key]
    bad_bool = isinstance(value, bool) and bool not in _as_tuple(types)
    if not isinstance(value, types) or bad_bool:
        names = " or ".join(t.__name__ for t in _as_tuple(types))
        problems.add(path, _line(data, key),
                     f"{what}.{key} must be {names}, got {value!r}")
        return False
    return True


def owners_of(data: dict, path: Path, problems: Problems) -> tuple[str, ...]:
    """``owner`` is one name or a list of names; at least one, none empty."""
    value = data.get("owner")
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(
            isinstance(v, str) and v.strip() for v in names):
        if "owner" in data:
            problems.add(path, _line(data, "owner"),
                         "owner must be a name or a list of names, e.g. 'asha.rao'")
        return ()
    return tuple(names)


def _line(data: Any, key: Any) -> int | None:
    return data.line(key) if isinstance(data, LineDict) else None


def line_of(data: Any, key: Any) -> int | None:
    """Line of ``key`` in a loaded mapping, or of the mapping itself when the key is absent."""
    return _line(data, key)


def _as_tuple(types: type | tuple) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def read_document(path: Path, problems: Problems, what: str, required: Iterable[str],
                  optional: Iterable[str]) -> dict | None:
    """A YAML file's top-level mapping with its keys checked (``what`` names it in
    errors); None, with the problems recorded, when it cannot be read or its keys are off."""
    try:
        data = load_yaml(path)
    except ConfigError as err:
        problems.append(err)
        return None
    if not check_keys(data, path, problems, what, required, optional, line=1):
        return None
    return data
