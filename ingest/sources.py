"""``sources.yaml``: which file, database table or query feeds each canonical table.

Validated strictly up front, so a typo in a key, a table name or a path is reported with its
file and line before any data is read, not as a confusing failure half-way through a run.

Besides the sources, the file may say when its data was extracted (``as_of``: dates after
it, plus each contract's tolerance, are implausible) and how much a load may shrink a
canonical table before ingest refuses it (``max_shrink``, per source or for all).

Everything a user needs to describe a file they did not design is a key here, not code:
the layout of a text file (any delimiter, whitespace runs, no header with the names given,
quote, encoding, several files by glob), the format of its dates (``formats:``), values for
columns it lacks (``constants:``, ``defaults:``) and columns computed from its own
(``computed:``, SQL). ``kind: derived`` builds a table from another source (customers from
their orders). Credentials never live in the file: a SQL URL takes them from the
environment (``${VAR}``), and a password written into it is an error. docs/sources.md
describes every key.
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from segflow.errors import ConfigError
from segflow.ingest.contract import load_contracts, time_zone
from segflow.ingest.rest.config import KEYS as REST_KEYS
from segflow.ingest.rest.config import RestConfig, parse_rest
from segflow.yamlio import LineDict, load_yaml

COMMON = {"kind", "columns", "timezone", "max_shrink", "formats", "constants", "defaults",
          "computed"}
INCREMENTAL = {"cursor", "key", "tombstone",
               "schedule"}   # a source loaded by watermark (incremental.py), maybe on a cron
KINDS = {
    "csv": COMMON | INCREMENTAL | {"path", "encoding", "delimiter", "header", "names", "quote"},
    "parquet": COMMON | INCREMENTAL | {"path"},
    "sql": COMMON | INCREMENTAL | {"url", "table", "query"},
    "duckdb": COMMON | INCREMENTAL | {"path", "table", "query"},
    "derived": COMMON | {"from", "query"},
    "rest": COMMON | INCREMENTAL | REST_KEYS,
}
SCHEDULE_KEYS = ("cron", "timezone")
FILE_ORDERS = ("name", "mtime")   # cursor: {files: ...}: how new files are told apart
WHITESPACE = "whitespace"        # delimiter: any run of spaces and tabs
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "space": " ", "comma": ",", "semicolon": ";",
                   "pipe": "|"}
EPOCHS = ("epoch", "epoch_ms")   # formats: seconds or milliseconds since 1970-01-01 UTC
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
GLOB = set("*?[")
TOP_LEVEL = {"sources", "as_of", "max_shrink", "compact_after"}
DEFAULT_MAX_SHRINK = 0.10   # a load may remove at most this share of a table's rows
DEFAULT_COMPACT_AFTER = (0.10, 48)  # deltas past 10% of the base's rows, or 48 loads: compact


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
    delimiter: str = ","             # csv: field separator, or WHITESPACE (runs of blanks)
    header: bool = True              # csv: the first line names the columns
    names: tuple[str, ...] = ()      # csv: the column names (required without a header)
    quote: str = '"'                 # csv: quote character ('' = no quoting)
    timezone: str | None = None      # zone of timestamps written without one
    project_timezone: str | None = None  # segflow.yaml's timezone: the last fallback
    max_shrink: float | None = None  # share of the table's rows a load may remove
    files: tuple[Path, ...] = ()     # csv, parquet: the files ``path`` (maybe a glob) matches
    formats: dict[str, str] = field(default_factory=dict)    # canonical -> strptime / epoch
    constants: dict[str, str | None] = field(default_factory=dict)  # canonical -> one value
    defaults: dict[str, str] = field(default_factory=dict)   # canonical -> value when empty
    computed: dict[str, str] = field(default_factory=dict)   # canonical -> SQL expression
    derived_from: str | None = None  # derived: the source whose typed rows it reads
    url_shown: str | None = None     # sql: the URL as written (``${VAR}`` unexpanded)
    rest: RestConfig | None = None   # rest: the API, its paging, auth and limits
    cursor_column: str | None = None  # source column that grows with every change (watermark)
    cursor_files: str | None = None   # csv, parquet: new files are those past the watermark
                                      # by "name" or "mtime"
    key: tuple[str, ...] = ()         # canonical columns a changed row is merged on
    tombstone: str | None = None      # source column: true marks the key as deleted
    schedule: str | None = None       # cron of its own load (segflow serve deploys it)
    schedule_timezone: str = "UTC"    # the zone the cron is read in

    @property
    def incremental(self) -> bool:
        """The source declares a cursor: ingest reads only what is new since the last load."""
        return self.cursor_column is not None or self.cursor_files is not None

    def computed_line(self, canonical: str) -> int:
        return self.computed_lines.get(canonical, self.line_of("computed"))

    computed_lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def source_column(self, canonical: str) -> str:
        """The column of this source's view that feeds a canonical column."""
        for label, given in (("constant", self.constants), ("computed", self.computed),
                             ("default", self.defaults)):
            if canonical in given:
                return f"{canonical} ({label})"
        return self.columns.get(canonical, canonical)

    def line_of(self, key: str) -> int:
        """Line of one of this source's keys in sources.yaml (the source's line if unknown)."""
        return self.lines.get(key, self.line)

    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def label(self) -> str:
        """How errors name this source: table, kind and where it lives."""
        where = (self.path.name if self.path else self.source_table or
                 (f"from {self.derived_from}" if self.derived_from else None) or
                 (self.rest.url(self.rest.endpoint) if self.rest else "query"))
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
    # when an incremental load folds a table's deltas into its base (segflow.canonical)
    compact_after: tuple[float, int] = DEFAULT_COMPACT_AFTER

    def shrink_limit(self, spec: SourceSpec) -> float:
        return self.max_shrink if spec.max_shrink is None else spec.max_shrink


def _share(file: Path, value, line: int | None, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(file, line, f"{what} must be a share between 0 and 1 (0.1 = 10%), "
                                      f"not {value!r}")
    return float(value)


def _compact_after(file: Path, value, line: int | None) -> tuple[float, int]:
    """``compact_after: {share: 0.1, loads: 48}``: an incremental load rewrites a table's
    base (O(table)) once its delta files hold more than ``share`` of the base's rows, or
    number ``loads``; below that it writes only its own rows (O(delta))."""
    share, loads = DEFAULT_COMPACT_AFTER
    if not isinstance(value, dict) or set(value) - {"share", "loads"}:
        raise ConfigError(file, line, "compact_after must be a mapping of share (of the "
                                      f"base's rows) and loads, e.g. {{share: 0.1, loads: 48}}, "
                                      f"not {value!r}")
    if "share" in value:   # may pass 1: deltas larger than the base before compacting
        share = value["share"]
        if isinstance(share, bool) or not isinstance(share, int | float) or share < 0:
            raise ConfigError(file, line, "compact_after: share must be a number of the "
                                          f"base's rows (0.1 = 10%), not {share!r}")
        share = float(share)
    if "loads" in value:
        loads = value["loads"]
        if isinstance(loads, bool) or not isinstance(loads, int) or loads < 1:
            raise ConfigError(file, line, f"compact_after: loads must be a whole number of "
                                          f"loads, at least 1, not {loads!r}")
    return share, loads


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


def _files(file: Path, spec, line: int, table: str) -> tuple[Path, tuple[Path, ...]]:
    """``path`` resolved against sources.yaml's folder, and the files it names: a glob
    (``raw/orders_*.csv``) matches several, read as one source in name order."""
    if not spec.get("path"):
        raise ConfigError(file, line, f"'{table}': missing 'path'")
    path = (file.parent / str(spec["path"])).resolve()
    if GLOB & set(str(spec["path"])):
        pattern = Path(str(spec["path"]))
        base = file.parent if not pattern.is_absolute() else Path(pattern.anchor)
        rel = str(pattern.relative_to(pattern.anchor)) if pattern.is_absolute() else str(pattern)
        files = tuple(sorted(p.resolve() for p in base.glob(rel) if p.is_file()))
        if not files:
            raise ConfigError(file, spec.line("path"), f"'{table}': no file matches {path}")
        return path, files
    if not path.exists():
        raise ConfigError(file, spec.line("path"), f"'{table}': no such file {path}")
    if path.is_dir():
        raise ConfigError(file, spec.line("path"), f"'{table}': {path} is a folder; name the "
                          "file in it, or every file of a kind with a pattern (e.g. "
                          f"{Path(str(spec['path'])) / '*.csv'})")
    return path, (path,)


def _delimiter(file: Path, spec, table: str) -> str:
    """One character, a name (tab, comma, ...), or ``whitespace`` for runs of blanks."""
    value = str(spec["delimiter"])
    value = DELIMITER_NAMES.get(value.lower(), value)
    if value.lower() == WHITESPACE:
        return WHITESPACE
    if len(value) != 1 or value in "\"\r\n":
        raise ConfigError(file, spec.line("delimiter"), f"'{table}': delimiter must be one "
                          f"character (',' ';' '|'), tab, or whitespace (any run of spaces "
                          f"and tabs), not {value!r}")
    return value


def _mapping(file: Path, spec, key: str, table: str, known: set[str]) -> dict[str, str]:
    """A canonical column -> text mapping (columns, formats, constants, ...), each column
    checked against the contract."""
    given = spec.get(key) or LineDict()
    if not isinstance(given, dict):
        raise ConfigError(file, spec.line(key), f"'{table}': {key} must be a mapping of "
                          "canonical column: value")
    for canonical, value in given.items():
        if canonical not in known:
            raise ConfigError(file, given.line(canonical), f"'{table}': {key} names unknown "
                              f"canonical column '{canonical}'; known: {sorted(known)}")
        if (value is None and key != "constants") or isinstance(value, dict | list):
            raise ConfigError(file, given.line(canonical), f"'{table}': {key}.{canonical} "
                              f"must be one value, not {value!r}")
    return {str(k): (None if v is None else str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in given.items()}


def _check_formats(file: Path, spec, formats: dict[str, str], contract, table: str) -> None:
    for canonical, fmt in formats.items():
        where = spec["formats"].line(canonical)
        if contract.column(canonical).type != "timestamp":
            raise ConfigError(file, where, f"'{table}': formats applies to timestamp columns; "
                              f"'{canonical}' is {contract.column(canonical).type}")
        if fmt not in EPOCHS and "%" not in fmt:
            raise ConfigError(file, where, f"'{table}': format {fmt!r} of '{canonical}' is "
                              "neither a strptime pattern (%Y%m%d, %d/%m/%Y %H:%M) nor "
                              f"one of {', '.join(EPOCHS)}")


def _no_overlap(file: Path, spec, table: str, parts: dict[str, dict]) -> None:
    """A canonical column comes from one place: a source column, a constant, a default
    (over the source column) or a computed expression."""
    seen: dict[str, str] = {}
    for key in ("constants", "computed", "defaults", "columns"):
        for canonical in parts[key]:
            if canonical in seen and not {seen[canonical], key} == {"defaults", "columns"}:
                raise ConfigError(file, spec[key].line(canonical), f"'{table}': column "
                                  f"'{canonical}' is given by both {seen[canonical]} and {key}")
            seen.setdefault(canonical, key)


def _sql_url(file: Path, spec, table: str) -> tuple[str, str]:
    """(the URL with ``${VAR}`` filled from the environment, the URL as written).

    A password belongs in the environment, not in a file people commit: one written into
    the URL is an error naming the line."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    written = str(spec["url"])
    where = spec.line("url")
    try:
        parsed = make_url(_ENV.sub("env", written))
    except ArgumentError:
        raise ConfigError(file, where, f"'{table}': url is not a database URL such as "
                          "postgresql+psycopg://user:${PGPASSWORD}@host/db") from None
    if parsed.password is not None and parsed.password != "env":
        raise ConfigError(file, where, f"'{table}': url holds a password; write "
                          "${SOME_VARIABLE} in its place and set that variable in the "
                          "environment (credentials never live in sources.yaml)")
    missing = [name for name in _ENV.findall(written) if name not in os.environ]
    if missing:
        raise ConfigError(file, where, f"'{table}': url needs the environment variable "
                          f"{missing[0]}, which is not set")
    filled = _ENV.sub(lambda m: os.environ[m.group(1)], written)
    return _sqlite_url(filled, file.parent), written


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
    extras: dict = {}
    path = None
    if kind in ("csv", "parquet") or (kind == "duckdb" and not spec.get("query")) \
            or (kind == "duckdb" and spec.get("path")):
        path, extras["files"] = _files(file, spec, line, table)
    if kind == "sql":
        if not spec.get("url"):
            raise ConfigError(file, line, f"'{table}': missing 'url' (a SQLAlchemy URL)")
        extras["url"], extras["url_shown"] = _sql_url(file, spec, table)
    if kind in ("sql", "duckdb") and bool(spec.get("table")) == bool(spec.get("query")):
        raise ConfigError(file, line, f"'{table}': give exactly one of 'table' or 'query'")
    if kind == "derived":
        if not spec.get("from") or not spec.get("query"):
            raise ConfigError(file, line, f"'{table}': a derived source names the source it "
                              "reads ('from: orders') and a 'query' over it")
        extras["derived_from"] = str(spec["from"])
    if kind == "rest":
        extras["rest"] = parse_rest(file, spec, table)
    contract = contracts[table]
    known = set(contract.names)
    parts = {key: _mapping(file, spec, key, table, known)
             for key in ("columns", "formats", "constants", "defaults", "computed")}
    _no_overlap(file, spec, table, parts)
    _check_formats(file, spec, parts["formats"], contract, table)
    if "encoding" in spec:
        extras["encoding"] = _encoding(file, spec["encoding"], spec.line("encoding"), table)
    if "delimiter" in spec:
        extras["delimiter"] = _delimiter(file, spec, table)
    if "header" in spec:
        if not isinstance(spec["header"], bool):
            raise ConfigError(file, spec.line("header"), f"'{table}': header is true (the "
                              "first line names the columns) or false")
        extras["header"] = spec["header"]
    if "names" in spec:
        names = spec["names"]
        if not isinstance(names, list) or not names or len(set(map(str, names))) != len(names):
            raise ConfigError(file, spec.line("names"), f"'{table}': names is a list of the "
                              "file's column names, each once, in the file's order")
        extras["names"] = tuple(str(n) for n in names)
    if extras.get("header") is False and "names" not in extras:
        raise ConfigError(file, spec.line("header"), f"'{table}': a file without a header "
                          "needs 'names:', the list of its columns in order")
    if "quote" in spec:
        quote = "" if spec["quote"] in (None, False) else str(spec["quote"])
        if len(quote) > 1:
            raise ConfigError(file, spec.line("quote"), f"'{table}': quote is one character, "
                              "or '' for a file without quoting")
        extras["quote"] = quote
    if "timezone" in spec:
        extras["timezone"] = time_zone(file, spec["timezone"], spec.line("timezone"),
                                       f"'{table}': timezone")
    if "max_shrink" in spec:
        extras["max_shrink"] = _share(file, spec["max_shrink"], spec.line("max_shrink"),
                                      f"'{table}': max_shrink")
    extras.update(_incremental(file, spec, table, contract, kind))
    if kind == "rest" and "cursor_column" in extras and extras["rest"].modified is None:
        raise ConfigError(file, spec.line("cursor"), f"'{table}': an incremental REST source "
                          f"needs 'modified' (the path of each record's modification time), "
                          f"which the API filters by")
    if kind == "rest" and "cursor_column" in extras and extras["rest"].fields and \
            extras["cursor_column"] not in dict(extras["rest"].fields):
        raise ConfigError(file, spec.line("cursor"), f"'{table}': the cursor column of a REST "
                          f"source is one of its fields (e.g. modified_at: SystemModstamp)")
    if extras.get("cursor_files") == "mtime" and "files" in extras:
        extras["files"] = tuple(sorted(extras["files"],
                                       key=lambda f: (f.stat().st_mtime_ns, f.name)))
    return SourceSpec(table=table, kind=kind, file=file, line=line, path=path,
                      source_table=spec.get("table"), query=spec.get("query"),
                      columns=parts["columns"], formats=parts["formats"],
                      constants=parts["constants"], defaults=parts["defaults"],
                      computed=parts["computed"], lines=dict(spec.lines),
                      computed_lines=dict(spec["computed"].lines) if "computed" in spec else {},
                      **extras)


def _incremental(file: Path, spec, table: str, contract, kind: str) -> dict:
    """``cursor``, ``key`` and ``tombstone`` of a source loaded by watermark.

    A cursor is a column whose value grows with every insert and change (``{column:
    updated_at}``, or an increasing id) or, for files, the files themselves (``{files:
    name}``: a file whose name sorts after the last one loaded; ``{files: mtime}``: a file
    modified since). Changed rows are merged into the canonical table by ``key`` (the
    contract's key unless given); a true ``tombstone`` deletes the key."""
    if not INCREMENTAL & set(spec):
        return {}
    out: dict = _schedule(file, spec, table) if "schedule" in spec else {}
    cursor = spec.get("cursor")
    where = spec.line("cursor")
    if not isinstance(cursor, dict) or len(cursor) != 1 or \
            next(iter(cursor)) not in ("column", "files"):
        raise ConfigError(file, where if "cursor" in spec else spec.line(next(
            k for k in ("key", "tombstone", "schedule") if k in spec)), f"'{table}': cursor "
            "is {column: <a source column that grows with every change>} or {files: "
            "name|mtime}" + (" (a scheduled source is loaded alone, from its watermark)"
                             if "schedule" in spec else ""))
    (how, value), = cursor.items()
    if how == "files":
        if kind not in ("csv", "parquet"):
            raise ConfigError(file, where, f"'{table}': cursor: {{files: ...}} is for csv and "
                              f"parquet sources; a {kind} source takes cursor: {{column: ...}}")
        if value not in FILE_ORDERS:
            raise ConfigError(file, where, f"'{table}': cursor files is one of "
                              f"{', '.join(FILE_ORDERS)}, not {value!r}")
        out["cursor_files"] = str(value)
    else:
        if not isinstance(value, str) or not value:
            raise ConfigError(file, where, f"'{table}': cursor column names one column of "
                              "the source (as the source writes it)")
        out["cursor_column"] = value
    key = spec.get("key", list(contract.key))
    key = [key] if isinstance(key, str) else key
    if not isinstance(key, list) or not key or any(k not in contract.names for k in key):
        raise ConfigError(file, spec.line("key", where), f"'{table}': key lists canonical "
                          f"columns of the contract ({', '.join(contract.names)}); the "
                          "contract has no key to default to" if not contract.key else
                          f"'{table}': key lists canonical columns of the contract "
                          f"({', '.join(contract.names)}), not {key!r}")
    out["key"] = tuple(str(k) for k in key)
    if "tombstone" in spec:
        if not isinstance(spec["tombstone"], str) or not spec["tombstone"]:
            raise ConfigError(file, spec.line("tombstone"), f"'{table}': tombstone names the "
                              "source column that is true for a deleted record")
        out["tombstone"] = spec["tombstone"]
    return out


def _schedule(file: Path, spec, table: str) -> dict:
    """``schedule: "0 * * * *"`` or ``{cron: "0 2 * * *", timezone: Asia/Kolkata}``: when
    ``segflow serve`` loads this source on its own (five-field cron, checked here with the
    cron parser Prefect itself uses, so a schedule that parses here is one Prefect runs)."""
    from cronsim import CronSim, CronSimError

    value, where = spec["schedule"], spec.line("schedule")
    given = value if isinstance(value, dict) else {"cron": value}
    unknown = sorted(set(given) - set(SCHEDULE_KEYS)) if isinstance(given, dict) else []
    if unknown:
        raise ConfigError(file, given.line(unknown[0]) if isinstance(given, LineDict) else
                          where, f"'{table}': unknown key '{unknown[0]}' in schedule; allowed: "
                          f"{', '.join(SCHEDULE_KEYS)}")
    cron = given.get("cron")
    cron_line = given.line("cron", where) if isinstance(given, LineDict) else where
    problem = "" if isinstance(cron, str) and len(cron.split()) == 5 else "not five fields"
    if not problem:
        try:
            CronSim(cron, datetime(2000, 1, 1))
        except CronSimError as err:
            problem = str(err)
    if problem:
        raise ConfigError(file, cron_line, f"'{table}': schedule is a cron of five fields "
                          f"(minute hour day-of-month month day-of-week, e.g. '0 * * * *' "
                          f"hourly), not {cron!r} ({problem})")
    out = {"schedule": " ".join(cron.split())}
    if given.get("timezone") is not None:
        out["schedule_timezone"] = time_zone(file, given["timezone"], given.line(
            "timezone", where), f"'{table}': schedule timezone")
    return out


def _check_derived(file: Path, specs: list[SourceSpec]) -> None:
    """A derived source reads another source of this file, itself read from data."""
    kinds = {s.table: s.kind for s in specs}
    for spec in specs:
        if spec.derived_from is None:
            continue
        if kinds.get(spec.derived_from) in (None, "derived"):
            raise ConfigError(file, spec.line_of("from"), f"'{spec.table}': from names "
                              f"'{spec.derived_from}', which is not a source in this file "
                              f"read from data; sources: {sorted(kinds)}")


def load_sources(file: Path, contracts_dir: Path) -> list[SourceSpec]:
    """The sources of a sources.yaml (see ``read_sources`` for the whole file)."""
    return read_sources(file, contracts_dir).specs


def read_sources(file: Path, contracts_dir: Path,
                 project_timezone: str | None = None) -> Sources:
    """Parse and validate a sources.yaml against the project's contracts (``contracts_dir``);
    every error names the file and the line. ``project_timezone`` (segflow.yaml's
    ``timezone``) is the zone of source times written without one where neither the source
    nor the contract declares a zone."""
    file = Path(file).resolve()
    if not file.exists():
        raise ConfigError(file, None, "no sources.yaml here; write one "
                          "(docs/ingest.md) or run `segflow demo-data` to generate a demo")
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
    specs = [replace(_parse_one(file, t, s, sources.line(t), contracts),
                     project_timezone=project_timezone) for t, s in sources.items()]
    _check_derived(file, specs)
    return Sources(
        file=file, specs=specs,
        as_of=_as_of(file, raw["as_of"], raw.line("as_of")) if raw.get("as_of") else None,
        max_shrink=_share(file, raw["max_shrink"], raw.line("max_shrink"), "max_shrink")
        if "max_shrink" in raw else DEFAULT_MAX_SHRINK,
        compact_after=_compact_after(file, raw["compact_after"], raw.line("compact_after"))
        if "compact_after" in raw else DEFAULT_COMPACT_AFTER)
