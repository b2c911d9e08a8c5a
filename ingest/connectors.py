"""Connectors: expose one configured source as a DuckDB view of its raw columns.

Files are scanned by DuckDB directly (CSV as text, so that one bad value is a bad row rather
than a failed read). A CSV is read with a declared layout (the header names the columns,
comma and double quote unless the source says otherwise), not a sniffed one: three lines
with stray quotes once made the sniffer give up on quoting and read the header as
'"order_id"'. Lines the reader cannot parse are stored by DuckDB (``store_rejects``) with
their line number and error, and ingest quarantines them; the rest of the file loads. A
file in an encoding other than UTF-8, UTF-16 or Latin-1 (DuckDB's own) is decoded by Python
into a UTF-8 copy in the spill folder first. SQL databases are read through SQLAlchemy, so
any database with a SQLAlchemy dialect works (SQLite in tests, PostgreSQL in production);
DuckDB files are read through a read-only connection. Those two are materialised as Arrow
tables in memory, so they suit tables of up to a few million rows; big sources belong in
Parquet or CSV files.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from segflow.errors import SchemaChangedError, SegflowError
from segflow.failures import decode_error, one_line
from segflow.ingest.sources import SourceSpec

_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes surrogateescape could not decode
NATIVE_ENCODINGS = {"utf-8": "utf-8", "utf-16": "utf-16", "iso8859-1": "latin-1"}
TRANSCODE_CHUNK = 1 << 22   # characters decoded per step when a file is converted to UTF-8
# DuckDB's reject error types -> the quarantine reason's check name
REJECT_REASONS = {"UNQUOTED VALUE": "stray_quote", "MISSING COLUMNS": "too_few_fields",
                  "TOO MANY COLUMNS": "too_many_fields",
                  "LINE SIZE OVER MAXIMUM": "line_too_long", "INVALID STATE": "malformed_line",
                  "CAST": "malformed_line"}


def _quote(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def source_label(spec: SourceSpec) -> str:
    """What ``_source`` says in quarantine: kind and location, never a password."""
    if spec.kind == "sql":
        from sqlalchemy.engine import make_url

        where = make_url(spec.url).render_as_string(hide_password=True)
        return f"sql:{where}#{spec.source_table or 'query'}"
    suffix = f"#{spec.source_table or 'query'}" if spec.kind == "duckdb" else ""
    return f"{spec.kind}:{spec.path}{suffix}"


def _column_to_arrow(values) -> pa.Array:
    """One column from a DB-API result; mixed Python types (SQLite allows them) become text."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _read_sql(spec: SourceSpec) -> pa.Table:
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(spec.url)
    try:
        if spec.source_table:
            query = sa.select(sa.text("*")).select_from(sa.table(spec.source_table))
        else:
            query = sa.text(spec.query)
        with engine.connect() as conn:
            frame = pd.read_sql(query, conn, coerce_float=False)
    except sa.exc.SQLAlchemyError as err:
        raise SegflowError(f"{spec.label}: cannot read: {err.__class__.__name__}: "
                           f"{str(err).splitlines()[0]}") from None
    finally:
        engine.dispose()
    return pa.table({c: _column_to_arrow(frame[c].tolist()) for c in frame.columns})


def _read_duckdb(spec: SourceSpec) -> pa.Table:
    import duckdb

    try:
        with duckdb.connect(str(spec.path), read_only=True) as src:
            sql = spec.query or f'SELECT * FROM "{spec.source_table}"'
            return src.sql(sql).to_arrow_table()
    except duckdb.Error as err:
        raise SegflowError(f"{spec.label}: cannot read: {one_line(err)}") from None


def _csv_header(path: Path, encoding: str, delimiter: str, label: str) -> list[str]:
    """Column names from the header line, read by Python's csv module in the file's
    encoding (a UTF-8 byte-order mark is skipped)."""
    python_encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    # undecodable bytes become surrogates, so a bad byte further down the first buffer
    # does not pass for a bad header; the rows' own bytes are judged by the reader
    with open(path, encoding=python_encoding, errors="surrogateescape", newline="") as fh:
        header = next(csv.reader(fh, delimiter=delimiter, quotechar='"'), None)
    if header and any(_UNDECODED.search(h) for h in header):
        raise decode_error(path, 1, encoding)
    if not header:
        raise SegflowError(f"{label}: {path} is empty: not even a header line naming the "
                           "columns")
    names = [h.strip() for h in header]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SchemaChangedError(f"{label}: the header names column(s) {repeated} more than "
                                 "once")
    return names


def _transcode(path: Path, encoding: str, folder: Path) -> Path:
    """A UTF-8 copy of a file in another encoding (streamed); a byte that is not valid in
    the declared encoding names its line."""
    target = folder / f"{path.stem}.utf8{path.suffix}"
    line = 1
    with open(path, encoding=encoding, newline="") as src, \
            open(target, "w", encoding="utf-8", newline="") as out:
        try:
            for chunk in iter(lambda: src.read(TRANSCODE_CHUNK), ""):
                out.write(chunk)
                line += chunk.count("\n")
        except UnicodeDecodeError as err:
            raise decode_error(path, line + err.object[:err.start].count(b"\n"),
                               encoding) from None
    return target


@dataclass(frozen=True)
class CsvScan:
    """How a CSV source is read, so its rejected lines can be collected after a scan."""

    path: Path             # the file DuckDB reads (a UTF-8 copy for non-native encodings)
    rejects: str           # DuckDB's reject_errors table of this source
    scans: str             # DuckDB's reject_scans table of this source
    source_columns: list[str]


def _open_csv(con, spec: SourceSpec, view: str, spill_dir: Path | None) -> CsvScan:
    names = _csv_header(spec.path, spec.encoding, spec.delimiter, spec.label)
    path, encoding = spec.path, NATIVE_ENCODINGS.get(spec.encoding)
    if encoding is None:
        path, encoding = _transcode(spec.path, spec.encoding, Path(spill_dir or "/tmp")), "utf-8"
    columns = "{" + ", ".join(f"{_quote(n)}: 'VARCHAR'" for n in names) + "}"
    scan = CsvScan(path, f"rejects_{spec.table}", f"reject_scans_{spec.table}", names)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM read_csv("
                f"{_quote(path)}, header=true, auto_detect=false, columns={columns}, "
                f"delim={_quote(spec.delimiter)}, quote='\"', escape='\"', "
                f"encoding={_quote(encoding)}, store_rejects=true, "
                f"rejects_table={_quote(scan.rejects)}, rejects_scan={_quote(scan.scans)})")
    return scan


def rejected_lines(con, spec: SourceSpec, scan: CsvScan, into: str) -> int:
    """Lines of the latest scan of a CSV source that the reader refused, one row per line
    (line, reason, raw text) in temp table ``into``; returns how many.

    A line in the wrong encoding is not a bad row but a wrong ``encoding:``: it stops the
    run naming the file, the line and the option."""
    kinds = " ".join(f"WHEN {_quote(k)} THEN {_quote(v)}" for k, v in REJECT_REASONS.items())
    renamed = " ".join(f"WHEN {_quote(src)} THEN {_quote(canon)}"
                       for canon, src in spec.columns.items())
    column = f"CASE column_name {renamed} ELSE column_name END" if renamed else "column_name"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT line, arg_min(error_type::VARCHAR, coalesce(column_idx, 0)) AS error_type,
               arg_min(CASE error_type::VARCHAR {kinds} ELSE 'malformed_line' END || ':' ||
                       coalesce({column}, 'line'), coalesce(column_idx, 0)) AS reason,
               any_value(csv_line) AS raw
        FROM {scan.rejects} WHERE scan_id = (SELECT max(scan_id) FROM {scan.scans})
        GROUP BY line ORDER BY line""")
    wrong, count = con.execute(f"SELECT min(line) FILTER (WHERE error_type = "
                               f"'INVALID ENCODING'), count(*) FROM {into}").fetchall()[0]
    if wrong is not None:
        raise decode_error(spec.path, int(wrong), spec.encoding)
    return int(count)


def open_source(con, spec: SourceSpec, spill_dir: Path | None = None) -> tuple[str, CsvScan | None]:
    """Create a temporary view ``src_<table>`` over the source's raw columns; return its
    name, and for a CSV source how to find the lines its reader refused."""
    import duckdb

    view = f"src_{spec.table}"
    scan = None
    try:
        if spec.kind == "csv":
            scan = _open_csv(con, spec, view, spill_dir)
        elif spec.kind == "parquet":
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS "
                        f"SELECT * FROM read_parquet({_quote(spec.path)})")
        else:
            table = _read_sql(spec) if spec.kind == "sql" else _read_duckdb(spec)
            con.register(f"{view}_arrow", table)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {view}_arrow")
    except duckdb.Error as err:
        raise SegflowError(f"{spec.label}: cannot read: {one_line(err)}") from None
    return view, scan
