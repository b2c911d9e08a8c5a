"""``sources.yaml``: which file, database table or query feeds each canonical table.

Validated strictly up front, so a typo in a key, a table name or a path is reported with its
file and line before any data is read, not as a confusing failure half-way through a run.

Besides the sources, the file may say when its data was extracted (``as_of``: dates after
it, plus each contract's tolerance, are implausible) and how much a load may shrink a
canonical table before ingest refuses it (``max_shrink``, per source or for all).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from segflow.errors import ConfigError
from segflow.ingest.contract import load_contracts, time_zone
from segflow.yamlio import LineDict, load_yaml

COMMON = {"kind", "columns", "timezone", "max_shrink"}
KINDS = {
    "csv": COMMON | {"path", "encoding", "delimiter"},
    "parquet": COMMON | {"path"},
    "sql": COMMON | {"url", "table", "query"},
    "duckdb": COMMON | {"path", "table", "query"},
}
TOP_LEVEL = {"sources", "as_of", "max_shrink"}
DEFAULT_MAX_SHRINK = 0.10   # a load may remove at most this share of a table's rows


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
    encoding: str = "utf-8"          # csv: text encoding of the file
    delimiter: str = ","             # csv: field separator
    timezone: str | None = None      # zone of timestamps written without one
    max_shrink: float | None = None  # share of the table's rows a load may remove

    def line_of(self, key: str) -> int:
        """Line of one of this source's keys in sources.yaml (the source's line if unknown)."""
        return self.lines.get(key, self.line)

    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

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


@dataclass(frozen=True)
class Sources:
    """A parsed sources.yaml: its sources and the settings that apply to all of them."""

    file: Path
    specs: list[SourceSpec]
    as_of: datetime | None = None          # when the sources were extracted (None: now)
    max_shrink: float = DEFAULT_MAX_SHRINK

    def shrink_limit(self, spec: SourceSpec) -> float:
        return self.max_shrink if spec.max_shrink is None else spec.max_shrink


def _share(file: Path, value, line: int | None, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(file, line, f"{what} must be a share between 0 and 1 (0.1 = 10%), "
                                      f"not {value!r}")
    return float(value)


def _encoding(file: Path, value, line: int | None, table: str) -> str:
    try:
        return codecs.lookup(str(value)).name
    except LookupError:
        raise ConfigError(file, line, f"'{table}': unknown encoding {value!r} (e.g. utf-8, "
                                      "latin-1, utf-16, cp1252)") from None


def _as_of(file: Path, value, line: int | None) -> datetime:
    from segflow.timeutil import parse_as_of

    try:
        return parse_as_of(value if isinstance(value, datetime) else str(value))
    except Exception:
        raise ConfigError(file, line, f"as_of must be an ISO date or time, not {value!r}"
                          ) from None


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
    extras = {}
    if "encoding" in spec:
        extras["encoding"] = _encoding(file, spec["encoding"], spec.line("encoding"), table)
    if "delimiter" in spec:
        delimiter = str(spec["delimiter"])
        if len(delimiter) != 1 or delimiter in "\"\r\n":
            raise ConfigError(file, spec.line("delimiter"), f"'{table}': delimiter must be one "
                              f"character (',' ';' '|' or a tab), not {delimiter!r}")
        extras["delimiter"] = delimiter
    if "timezone" in spec:
        extras["timezone"] = time_zone(file, spec["timezone"], spec.line("timezone"),
                                       f"'{table}': timezone")
    if "max_shrink" in spec:
        extras["max_shrink"] = _share(file, spec["max_shrink"], spec.line("max_shrink"),
                                      f"'{table}': max_shrink")
    return SourceSpec(table=table, kind=kind, file=file, line=line, path=path, url=url,
                      source_table=spec.get("table"), query=spec.get("query"),
                      columns={str(k): str(v) for k, v in columns.items()},
                      lines=dict(spec.lines), **extras)


def load_sources(file: Path, contracts_dir: Path) -> list[SourceSpec]:
    """The sources of a sources.yaml (see ``read_sources`` for the whole file)."""
    return read_sources(file, contracts_dir).specs


def read_sources(file: Path, contracts_dir: Path) -> Sources:
    """Parse and validate a sources.yaml against the project's contracts (``contracts_dir``);
    every error names the file and the line."""
    file = Path(file).resolve()
    if not file.exists():
        raise ConfigError(file, None, "no sources.yaml here; write one or run "
                          "`segflow demo-data holi` to generate a demo")
    raw = load_yaml(file)
    if not isinstance(raw, dict) or "sources" not in raw:
        raise ConfigError(file, 1, "expected a top-level 'sources:' mapping")
    extra = sorted(set(raw) - TOP_LEVEL)
    if extra:
        raise ConfigError(file, raw.line(extra[0]), f"unknown top-level key '{extra[0]}'")
    sources = raw["sources"]
    if not isinstance(sources, dict) or not sources:
        raise ConfigError(file, raw.line("sources"), "'sources' must map table names to sources")
    contracts = load_contracts(contracts_dir)
    specs = [_parse_one(file, t, s, sources.line(t), contracts) for t, s in sources.items()]
    return Sources(
        file=file, specs=specs,
        as_of=_as_of(file, raw["as_of"], raw.line("as_of")) if raw.get("as_of") else None,
        max_shrink=_share(file, raw["max_shrink"], raw.line("max_shrink"), "max_shrink")
        if "max_shrink" in raw else DEFAULT_MAX_SHRINK)
