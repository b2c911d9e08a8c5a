"""YAML loading (segflow.yamlio): values, the line of every key and errors that name the
file and line, from libyaml's parser, the same as PyYAML's pure-Python one gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from holi_project import ROOT

from segflow import yamlio
from segflow.errors import ConfigError


class _PureLoader(yaml.SafeLoader):
    """PyYAML's pure-Python parser with segflow's mapping constructor: the reference."""


_PureLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                            yamlio._construct_mapping)


def _pure(path: Path):
    loader = _PureLoader(path.read_text(encoding="utf-8"))
    loader.name = str(path)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _same(a, b, where: str) -> None:
    """Equal values of equal types, and every mapping's key lines equal."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert list(a) == list(b) and a.lines == b.lines and a.start_line == b.start_line, where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_the_c_parser_is_used_where_pyyaml_has_it():
    assert yaml.__with_libyaml__  # the wheels on PyPI carry libyaml
    assert issubclass(yamlio._LineLoader, yaml.CSafeLoader)


def test_every_yaml_file_of_the_project_reads_as_the_pure_python_parser_reads_it():
    files = [p for p in sorted(ROOT.rglob("*.yaml"))
             if not {".venv", ".git", "node_modules"} & set(p.relative_to(ROOT).parts)]
    assert len(files) >= 50
    for path in files:
        _same(yamlio.load_yaml(path), _pure(path), str(path.relative_to(ROOT)))


def test_each_key_knows_its_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\n# note\nsegments:\n  - id: x\n    where: y > 1\n")
    data = yamlio.load_yaml(path)
    assert data.line("segments") == 3 and data["segments"][0].line("where") == 5
    assert data["segments"][0].start_line == 4


def test_a_duplicate_key_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ntitle: b\nname: c\n")
    with pytest.raises(ConfigError) as err:
        yamlio.load_yaml(path)
    assert err.value.line == 3 and "duplicate key 'name'" in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("text, line", [("a: 1\n b: [\n", 2), ("a: [1, 2\nb: 3\n", 2),
                                        ("a: 1\nb: 'open\n", 3)])
def test_a_syntax_error_names_its_line(tmp_path, text, line):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        yamlio.load_yaml(path)
    assert err.value.line == line and "invalid YAML" in str(err.value)


def test_an_unclosed_bracket_names_its_column_and_the_line_it_opened_on(tmp_path):
    """The parser notices an unclosed bracket on the next line; the message gives that
    line's column and the line where the bracket opened, which is where the fix goes."""
    path = tmp_path / "c.yaml"
    path.write_text("params:\n  days: {type: int, default: 90\nwhere: x\n")
    with pytest.raises(ConfigError) as err:
        yamlio.load_yaml(path)
    assert err.value.line == 3
    assert str(err.value) == (
        f"{path}:3: invalid YAML at column 6: did not find expected ',' or '}}' (while parsing "
        "a flow mapping from line 2); check the indentation, quotes and brackets up to here")


def test_text_that_is_not_utf8_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ConfigError) as err:
        yamlio.load_yaml(path)
    assert err.value.line == 2 and "UTF-8" in str(err.value)
