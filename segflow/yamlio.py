"""YAML loading that remembers line numbers, so every config error can name file and line.

Parsed by libyaml (PyYAML's C loader, in every PyYAML wheel) where PyYAML has it: a command
reads a campaign's templates, configs and frozen copies hundreds of times (a governed,
published and exported run parses about 570 files), and the pure-Python parser is about 8x
slower on them. Both give the same values and the same lines; only the wording of a syntax
error differs slightly between them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from segflow.errors import ConfigError

_BASE = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader


class _LineLoader(_BASE):  # type: ignore[misc,valid-type]
    """The safe loader that records the line of every mapping key in ``lines``."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False):
    mapping = LineDict()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise ConfigError(loader.name, key_node.start_mark.line + 1,
                              f"duplicate key '{key}'")
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    mapping.start_line = node.start_mark.line + 1
    return mapping


class LineDict(dict):
    """A dict that knows the source line of each of its keys (1-based)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}
        self.start_line: int = 1

    def line(self, key: Any, default: int | None = None) -> int | None:
        return self.lines.get(key, default if default is not None else self.start_line)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; mappings come back as ``LineDict`` with per-key line numbers.

    A syntax error becomes a ``ConfigError`` naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = err.object[:err.start].count(b"\n") + 1
        raise ConfigError(path, line, "not valid UTF-8 text; save the file as UTF-8") from None
    loader = _LineLoader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        raise ConfigError(path, *_syntax_error(err)) from None
    finally:
        loader.dispose()


def _syntax_error(err) -> tuple[int | None, str]:
    """(line, message) of a YAML syntax error: where the parser noticed it, with the column,
    and where the construct it was reading began (the mistake is often there: an indent, an
    unclosed bracket or quote), since the line noticed is often the one after."""
    mark = err.problem_mark or err.context_mark
    if mark is None:
        return None, f"invalid YAML: {err.problem or err}"
    where = f"invalid YAML at column {mark.column + 1}: {err.problem or err}"
    start = err.context_mark
    if err.context and start is not None and start.line != mark.line:
        where += f" ({err.context} from line {start.line + 1})"
    return mark.line + 1, where + "; check the indentation, quotes and brackets up to here"
