"""What a feature view file declares besides its Feast ``FeatureView``: how its rows are built.

A view file holds one ``Transformation``: DuckDB SQL over canonical tables (and relations
made from the repo's YAML configuration) computing the view's rows as of ``$as_of``. Values
are bound as parameters, never pasted into the SQL, so a config value can never change the
shape of a query.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segflow.settings import Settings, get_settings

_loading: list[Settings] = []
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Transformation:
    """SQL computing a view's rows as of ``$as_of``.

    sources: canonical tables (or derived relations, see config/derived.yaml) the SQL reads;
    a view whose sources are absent from a workspace is skipped, not failed.
    params: extra named parameters (from configuration) bound next to ``$as_of``.
    tables: small relations from configuration, name -> list of row dicts.
    """

    sql: str
    sources: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict]] = field(default_factory=dict)

    def parameter_names(self) -> set[str]:
        """Named parameters the SQL uses (DuckDB refuses unused ones)."""
        return set(_PARAM.findall(self.sql))


@contextmanager
def loading(settings: Settings):
    """Make ``source_path`` resolve against ``settings`` while repo files are imported."""
    _loading.append(settings)
    try:
        yield
    finally:
        _loading.pop()


def current_settings() -> Settings:
    return _loading[-1] if _loading else get_settings()


def source_path(view: str) -> str:
    """Absolute path of a view's Parquet source: Feast's DuckDB store resolves relative paths
    against the process's working directory, so a relative path would break in any other."""
    return str(Path(current_settings().features_dir) / f"{view}.parquet")


def config_path(repo_file: str, name: str) -> Path:
    """A YAML file in the repo's ``config/`` folder, next to the view file asking for it."""
    return Path(repo_file).resolve().parent / "config" / name


def load_config(repo_file: str, name: str, required: dict[str, type | tuple]) -> dict:
    """Load a repo config YAML and check the type of each required key.

    A missing or mistyped key raises ``ConfigError`` naming the file and line, so a typo in
    a weight fails the build instead of silently zeroing a feature.
    """
    from segflow.errors import ConfigError
    from segflow.yamlio import load_yaml

    path = config_path(repo_file, name)
    doc = load_yaml(path)
    if not isinstance(doc, dict):
        raise ConfigError(path, 1, "expected a mapping at the top level")
    for key, kind in required.items():
        if key not in doc:
            raise ConfigError(path, getattr(doc, "start_line", 1), f"missing key '{key}'")
        value = doc[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ConfigError(path, doc.line(key), f"'{key}' must be {want}, got {value!r}")
    return doc
