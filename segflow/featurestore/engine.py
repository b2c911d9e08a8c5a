"""A DuckDB connection that sees a workspace's canonical tables, the repo's derived relations
and helper macros: the environment every view transformation runs in."""

from __future__ import annotations

import re
from pathlib import Path

from segflow.errors import ConfigError, SegflowError
from segflow.settings import Settings
from segflow.yamlio import load_yaml

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
MACROS = [
    # Whole days from a to b, flooring: 23h59 is 0 days. Null when a is null.
    "CREATE MACRO days_between(a, b) AS "
    "CAST(floor((epoch_us(b) - epoch_us(a)) / 86400000000.0) AS BIGINT)",
]


def connect(settings: Settings | None = None):
    """In-memory DuckDB in UTC: calendar arithmetic (INTERVAL 12 MONTH) must not depend on
    the machine's time zone. With a workspace, memory is capped and big joins spill there
    (at 10M customers an uncapped retrieval ran the machine out of memory)."""
    import duckdb

    config = {}
    if settings is not None:
        from segflow.db import memory_limit, spill_dir

        config = {"memory_limit": memory_limit(0.4), "temp_directory": spill_dir(settings)}
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    for macro in MACROS:
        con.execute(macro)
    return con


def sql_literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def canonical_tables(settings: Settings) -> list[tuple[str, Path, list[Path], str | None]]:
    """(name, file, live event files, their id column) of each ``canonical/<table>.parquet``:
    what either engine registers as the table ``name``.

    Refuses tables half-switched by a killed ingest, and names a table that is not a whole
    Parquet file (its footer is read here, before any transformation trips over it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from segflow.failures import truncated_parquet
    from segflow.receipts import unfinished_commit

    unfinished = unfinished_commit(settings.canonical_dir)
    if unfinished is not None:
        raise unfinished
    out = []
    for path in sorted(Path(settings.canonical_dir).glob("*.parquet")):
        if not _IDENT.match(path.stem):
            continue
        try:
            pq.read_metadata(path)
        except (OSError, pa.ArrowException):
            raise truncated_parquet(path) from None
        out.append((path.stem, path, *live_rows(settings, path)))
    return out


def register_canonical(con, settings: Settings) -> set[str]:
    """One view per ``canonical/<table>.parquet``; returns the table names found."""
    names = set()
    for name, path, live, key in canonical_tables(settings):
        con.execute(f"CREATE VIEW {name} AS {_live_union(path, live, key)}")
        names.add(name)
    return names


def live_files(settings: Settings, table: str) -> list[Path]:
    """The live rows appended for a canonical table by the real-time receiver (events,
    survey responses): ``events/offline/<table>/<day>/*.parquet``."""
    return sorted((settings.events_offline_dir / table).glob("*/*.parquet"))


def live_rows(settings: Settings, path: Path) -> tuple[list[Path], str | None]:
    """The live rows appended for the canonical table ``path`` by the real-time receiver
    (``live_files``) and their id column: the files' first column (None: no files)."""
    import pyarrow.parquet as pq

    files = live_files(settings, path.stem)
    return files, (pq.read_schema(files[0]).names[0] if files else None)


def with_live(settings: Settings, path: Path) -> str:
    """The SQL of a canonical table with its live rows (``_live_union``), for a table that
    may so far exist only from webhooks (survey answers before the first CSV load)."""
    return _live_union(path, *live_rows(settings, path))


def _live_union(path: Path, files: list[Path], key: str | None) -> str:
    """The canonical table's rows, plus the applied live events appended for it
    (``segflow.ingest.events.offline``, ``survey_offline``) whose id (``key``, the first
    column of those files) the table does not hold yet; one row per id. Before the
    table's first load the live rows alone."""
    from segflow.canonical import source

    table = source(path) if path.exists() else None   # base and deltas (segflow.canonical)
    canonical = f"SELECT * FROM {table}"
    if not files:
        return canonical
    key = '"' + key.replace('"', '""') + '"'
    listed = "[" + ", ".join(sql_literal(f) for f in files) + "]"
    if not path.exists():
        return (f"SELECT * FROM read_parquet({listed}, union_by_name=true) QUALIFY "
                f"row_number() OVER (PARTITION BY {key} ORDER BY {key}) = 1")
    return (f"{canonical} UNION ALL BY NAME SELECT * FROM read_parquet({listed}, "
            f"union_by_name=true) WHERE {key} NOT IN (SELECT {key} FROM "
            f"{table}) QUALIFY row_number() OVER (PARTITION BY "
            f"{key} ORDER BY {key}) = 1")


def register_derived(execute, repo_dir: Path, available: set[str]) -> set[str]:
    """Create the relations of ``config/derived.yaml`` whose requirements are present, in
    file order; ``execute(name, sql)`` creates one on the engine (``sql`` is DuckDB's)."""
    path = Path(repo_dir) / "config" / "derived.yaml"
    if not path.exists():
        return set(available)
    doc = load_yaml(path) or {}
    have = set(available)
    for name, spec in doc.items():
        if not isinstance(spec, dict) or not {"requires", "sql"} <= set(spec):
            raise ConfigError(path, doc.line(name), f"'{name}' needs requires and sql")
        if set(spec["requires"]) <= have:
            try:
                execute(name, spec["sql"])
            except Exception as err:  # the engines' errors carry the position in the SQL
                raise ConfigError(path, spec.line("sql"), f"'{name}': {err}") from None
            have.add(name)
    return have


def underlying_tables(repo_dir: Path, names: set[str]) -> set[str]:
    """``names`` with each relation derived in the repo (``config/derived.yaml``) replaced,
    transitively, by the tables it requires: what a view reading them really reads."""
    path = Path(repo_dir) / "config" / "derived.yaml"
    derived = (load_yaml(path) or {}) if path.exists() else {}
    out, seen, todo = set(), set(), set(names)
    while todo:
        name = todo.pop()
        seen.add(name)
        spec = derived.get(name)
        if isinstance(spec, dict) and spec.get("requires"):
            todo |= set(spec["requires"]) - seen
        else:
            out.add(name)
    return out


def canonical_connection(settings: Settings, repo_dir: Path | None = None):
    """A connection with canonical tables and derived relations; returns (con, names)."""
    con = connect(settings)
    names = register_canonical(con, settings)
    if not names:
        raise SegflowError(f"no canonical tables in {settings.canonical_dir}; "
                           "run `segflow ingest` (or `segflow demo-data`) first")
    return con, register_derived(lambda _, sql: con.execute(sql),
                                 repo_dir or settings.feature_repo_dir, names)
