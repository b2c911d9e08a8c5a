"""The one reader of canonical tables: a table's compacted base plus the deltas of the
incremental loads since, merged by key.

A full ingest writes ``canonical/<table>.parquet`` (the base). An incremental load does not
rewrite it: it writes ``canonical/_delta/<table>/<seq>.parquet`` (its accepted live rows)
and ``<seq>.keys.parquet`` (every key it decides: upserts, tombstones, withdrawn versions),
so its cost grows with the change, not with the table. The table is then the base and each
delta's rows, less the rows whose key a later load decided: exactly what a full rebuild
writes, in the order the old merge wrote it (base, then each load's rows).

Every reader of a canonical table goes through ``source``/``sql``/``files``: one that read
``<table>.parquet`` alone would miss every incremental load since the last compaction.
With no delta ``source`` is today's ``read_parquet(base)``, so nothing changes for a
workspace that never loaded incrementally. While an ingest's journalled commit is
unfinished (base and deltas half switched), every read is refused.
"""

from __future__ import annotations

from pathlib import Path

from segflow.featurestore.engine import sql_literal as lit

DELTA = "_delta"          # canonical/_delta/<table>/<seq>.parquet and <seq>.keys.parquet
KEYS = ".keys.parquet"
REPLACED = b"segflow.replaced"   # keys file metadata: rows of the table it replaced


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def delta_dir(base: Path) -> Path:
    """The deltas' folder of the table whose base is ``base`` (canonical/<table>.parquet)."""
    base = Path(base)
    return base.parent / DELTA / base.stem


def deltas(base: Path) -> list[tuple[int, Path, Path]]:
    """(seq, rows file, keys file) of each committed delta of the table, oldest first."""
    folder = delta_dir(base)
    if not folder.is_dir():
        return []
    out = []
    for keys in folder.glob(f"*{KEYS}"):
        seq = keys.name[: -len(KEYS)]
        if seq.isdigit():
            out.append((int(seq), folder / f"{seq}.parquet", keys))
    return sorted(out)


def delta_name(seq: int) -> tuple[str, str]:
    """The file names of delta ``seq`` (rows, keys)."""
    return f"{seq:06d}.parquet", f"{seq:06d}{KEYS}"


def _refuse_unfinished(canonical_dir: Path) -> None:
    from segflow.receipts import unfinished_commit

    unfinished = unfinished_commit(canonical_dir)
    if unfinished is not None:
        raise unfinished


def files(base: Path) -> list[Path]:
    """Every file the table's rows are read from: the base, then each delta's rows."""
    return ([Path(base)] if Path(base).exists() else []) + [r for _, r, _ in deltas(base)]


def has_deltas(base: Path) -> bool:
    return bool(deltas(base))


def source(base: Path, pending: list[tuple[Path, Path]] = ()) -> str:
    """A SQL relation (for a FROM clause) of the table whose base is ``base``: with no delta
    ``read_parquet(base)``, else the merged view. ``pending`` adds deltas not committed
    yet (rows file, keys file; ingest's own staged load, newest last)."""
    base = Path(base)
    _refuse_unfinished(base.parent)
    parts = [(base, None)] + [(r, k) for _, r, k in deltas(base)] + \
        [(Path(r), Path(k)) for r, k in pending]
    if len(parts) == 1:
        return f"read_parquet({lit(base)})"
    import pyarrow.parquet as pq

    key = pq.read_schema(parts[1][1]).names
    using = ", ".join(_q(k) for k in key)
    selects = []
    for i, (rows, _) in enumerate(parts):
        later = [k for _, k in parts[i + 1:]]
        if rows == base and not base.exists():
            continue
        read = f"SELECT * FROM read_parquet({lit(rows)})"
        if later:   # plain SQL (one path per read_parquet, a left join): Spark's too
            decided = " UNION ALL ".join(f"SELECT {using} FROM read_parquet({lit(k)})"
                                         for k in later)
            same = " AND ".join(f"f.{_q(k)} = k.{_q(k)}" for k in key)
            read = (f"SELECT f.* FROM read_parquet({lit(rows)}) f LEFT JOIN (SELECT DISTINCT "
                    f"{using}, 1 AS _decided FROM ({decided})) k ON {same} "
                    "WHERE k._decided IS NULL")
        selects.append(read)
    return "(" + " UNION ALL ".join(f"({s})" for s in selects) + ")"


def sql(base: Path, pending: list[tuple[Path, Path]] = ()) -> str:
    """``SELECT * FROM`` the table (``source``)."""
    return f"SELECT * FROM {source(base, pending)}"


def with_replaced(schema, replaced: int):
    """The keys file's schema, recording how many rows of the table as it was (base and
    earlier deltas, merged) its keys replaced: with every delta's row count in its footer,
    the table's rows are then known without reading it (``count``)."""
    return schema.with_metadata({REPLACED: str(int(replaced)).encode()})


def count(base: Path) -> int:
    """Rows of the table from the files' footers: the base's, plus each delta's rows less
    the rows its keys replaced (recorded in its keys file, ``with_replaced``). The merged
    view is counted only where a keys file lacks that record (written before it was kept)."""
    import duckdb
    import pyarrow.parquet as pq

    base = Path(base)
    rows = pq.ParquetFile(base).metadata.num_rows if base.exists() else 0
    parts = deltas(base)
    if not parts:
        return rows
    _refuse_unfinished(base.parent)
    for _, rows_file, keys_file in parts:
        replaced = (pq.ParquetFile(keys_file).metadata.metadata or {}).get(REPLACED)
        if replaced is None:
            with duckdb.connect() as con:
                return con.execute(f"SELECT count(*) FROM {source(base)}").fetchall()[0][0]
        rows += pq.ParquetFile(rows_file).metadata.num_rows - int(replaced)
    return rows
