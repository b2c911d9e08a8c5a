"""``sources.yaml``: which file, database table or query feeds each canonical table.

Validated strictly up front, so a typo in a key, a table name or a path is reported with its
file and line before any data is read, not as a confusing failure half-way through a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ingest.contract import load_contracts
from segflow.errors import ConfigError
from segflow.yamlio import LineDict, load_yaml

KINDS = {
    "csv": {"kind", "path", "columns"},
    "parquet": {"kind", "path", "columns"},
    "sql": {"kind", "url", "table", "query", "columns"},
    "duckdb": {"kind", "path", "table", "query", "columns"},
}


@dataclass(frozen=True)
class SourceSpec:
    table: str                       # canonical table it feeds
    kind: str
    file: Path                       # the sources.yaml it came from
    line: int
    path: Path | None = None         # csv, parquet, duckdb
    url: str | None = None           # sql
    source_table: str | None = None  # sql, duckdb
    query: str | None = None         # sql, duckdb
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> source name

    @property
    def label(self) -> str:
        """How errors name this source: table, kind and where it lives."""
        where = self.path.name if self.path else (self.source_table or "query")
        return f"source '{self.table}' ({self.kind}: {where}, {self.file}:{self.line})"


def _sqlite_url(url: str, folder: Path) -> str:
    """Relative SQLite URLs are relative to sources.yaml, like every other path in it."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((folder / url[len(prefix):]).resolve())
    return url


def _parse_one(file: Path, table: str, spec, line: int, contracts) -> SourceSpec:
    if table not in contracts:
        raise ConfigError(file, line, f"unknown table '{table}'; known: {sorted(contracts)}")
    if not isinstance(spec, LineDict):
        raise ConfigError(file, line, f"'{table}' must be a mapping with at least 'kind'")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ConfigError(file, spec.line("kind", line),
                          f"'{table}': kind must be one of {sorted(KINDS)}, not {kind!r}")
    unknown = sorted(set(spec) - KINDS[kind])
    if unknown:
        raise ConfigError(file, spec.line(unknown[0]),
                          f"'{table}': unknown key '{unknown[0]}' for kind {kind}; "
                          f"allowed: {sorted(KINDS[kind])}")
    folder = file.parent
    path = url = None
    if "path" in KINDS[kind]:
        if not spec.get("path"):
            raise ConfigError(file, line, f"'{table}': missing 'path'")
        path = (folder / str(spec["path"])).resolve()
        if not path.exists():
            raise ConfigError(file, spec.line("path"), f"'{table}': no such file {path}")
    if kind == "sql":
        if not spec.get("url"):
            raise ConfigError(file, line, f"'{table}': missing 'url' (a SQLAlchemy URL)")
        url = _sqlite_url(str(spec["url"]), folder)
    if kind in ("sql", "duckdb") and bool(spec.get("table")) == bool(spec.get("query")):
        raise ConfigError(file, line, f"'{table}': give exactly one of 'table' or 'query'")
    columns = spec.get("columns") or {}
    if not isinstance(columns, dict):
        raise ConfigError(file, spec.line("columns"), f"'{table}': columns must be a mapping")
    known = set(contracts[table].names)
    for canonical in columns:
        if canonical not in known:
            raise ConfigError(file, columns.line(canonical),
                              f"'{table}': columns maps unknown canonical column '{canonical}'; "
                              f"known: {sorted(known)}")
    return SourceSpec(table=table, kind=kind, file=file, line=line, path=path, url=url,
                      source_table=spec.get("table"), query=spec.get("query"),
                      columns={str(k): str(v) for k, v in columns.items()})


def load_sources(file: Path) -> list[SourceSpec]:
    """Parse and validate a sources.yaml; every error names the file and the line."""
    file = Path(file).resolve()
    if not file.exists():
        raise ConfigError(file, None, "no sources.yaml here; write one or run "
                          "`segflow demo-data holi` to generate a demo")
    raw = load_yaml(file)
    if not isinstance(raw, dict) or "sources" not in raw:
        raise ConfigError(file, 1, "expected a top-level 'sources:' mapping")
    extra = sorted(set(raw) - {"sources"})
    if extra:
        raise ConfigError(file, raw.line(extra[0]), f"unknown top-level key '{extra[0]}'")
    sources = raw["sources"]
    if not isinstance(sources, dict) or not sources:
        raise ConfigError(file, raw.line("sources"), "'sources' must map table names to sources")
    contracts = load_contracts()
    return [_parse_one(file, t, s, sources.line(t), contracts) for t, s in sources.items()]
