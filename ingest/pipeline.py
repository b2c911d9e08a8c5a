"""``run_ingest``: every configured source -> contract-checked canonical tables.

Order of work: read and type-check every source first (a changed schema stops the run before
anything is written); then accounts, then customers (normalised and de-duplicated, giving the
merge map), then every other table with its customer ids rewritten through the merge map and
its foreign keys checked against what was accepted. Outputs are committed together at the end.

Memory: file sources are scanned by DuckDB, staged as views, checked into one table per source
(dropped once written) and streamed to Parquet. The tables live in a DuckDB file in a
folder of the workspace made for the run (``_connect``), which DuckDB also spills to past its
memory limit, and which is removed when the run ends. SQL sources stream through Parquet
files in that folder; DuckDB-file and REST sources are still read into memory (see
connectors).

Incremental loads: a source with a cursor (``segflow.ingest.incremental``) shows only its rows
past the watermark; they are checked as above and merged into the table as the last load left
it (``old_<table>``: rows whose key the load decides are replaced or removed), and the new
watermark is committed with the tables. Where merging could not give what a full rebuild
would (``_check_incremental``), the load is redone in full.

Guards before anything is committed: a CSV line the reader cannot parse is quarantined with
its line number (rows in still equal rows accepted plus quarantined); a timestamp later than
the ingest's as-of (``--as-of``, else sources.yaml's ``as_of``, else now) plus the contract's
tolerance is quarantined; and a load that would empty a table, or shrink it by more than
``max_shrink`` (10% unless sources.yaml says otherwise), is refused with the before and
after counts unless ``allow_shrink`` (``segflow ingest --allow-shrink``) says it is meant.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from segflow import canonical, keyindex, progress
from segflow.db import memory_limit
from segflow.engines import require_duckdb
from segflow.errors import CheckFailed, SchemaChangedError, SegflowError
from segflow.faults import reach
from segflow.ingest.advice import first_rows
from segflow.ingest.checks import SUPERSEDED, check_rows, in_source_order, reason_counts
from segflow.ingest.coerce import check_schema, raw, raw_text, stage
from segflow.ingest.connectors import (
    CsvScan,
    numbered_source,
    open_derived,
    open_source,
    rejected_lines,
    source_label,
)
from segflow.ingest.contract import Contract, load_contracts, load_fx_rates
from segflow.ingest.dedupe import find_duplicates, touched_duplicates
from segflow.ingest.hierarchy import roll_up
from segflow.ingest.identifiers import (
    cache_contents,
    cache_files,
    next_cache_file,
    normalise_identifiers,
    prune_cache,
)
from segflow.ingest.incremental import (
    MERGED_CUSTOMERS,
    SOURCES_READ,
    WATERMARKS,
    NeedsFullLoad,
    files_read,
    new_files,
    next_mark,
    read_state,
    read_watermarks,
    since,
    state_path,
    unchanged_since,
    usable_marks,
)
from segflow.ingest.output import IngestReport, StagedWriter, TableReport, finish_commit
from segflow.ingest.sources import Sources, SourceSpec, read_sources
from segflow.lock import holds_workspace
from segflow.receipts import JOURNAL
from segflow.settings import Settings
from segflow.timeutil import parse_as_of

MEMORY_SHARE = 0.6   # of RAM DuckDB may hold before spilling to the workspace ...
MEMORY_CAP_MB = 3072  # ... but no more than this: big tables spill rather than crowd the host
FIRST = ("accounts", "customers")          # tables others refer to are processed first
COMPACT_NOW = (0.0, 1)   # compact_after of `segflow ingest --compact`: every table now


# what every accepted row passed (segflow.ingest.checks), so the control need not prove it again
RECEIPT_CHECKS = ["types", "key_unique", "not_null", "allowed_values", "foreign_keys",
                  "plausible_values"]


class ShrinkRefused(CheckFailed):
    """A load would empty a canonical table or shrink it past the configured share."""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _resolve_reference(col, table: str, present: set[str]) -> str | None:
    """The first referenced ``table.column`` that this run ingests (None: nothing to check)."""
    return next((r for r in col.references if r.split(".")[0] in present), None)


def _prepare_refs(con, contract: Contract, present: set[str]) -> tuple[dict[str, str], tuple]:
    """Each foreign-key column's reference view, and the columns holding customer ids."""
    refs, survivors = {}, []
    for col in contract.columns:
        target = _resolve_reference(col, contract.table, present)
        if target is None or target.split(".")[0] == contract.table:
            continue  # self-references (account parents) are settled after the row checks
        ref_table, ref_col = target.split(".")
        if ref_table == "customers":
            survivors.append(col.name)
        view = f"ref_{ref_table}_{ref_col}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS "
                    f"SELECT {_q(ref_col)} AS id FROM accepted_{ref_table}")
        refs[col.name] = view
    return refs, tuple(survivors)


def _live(spec: SourceSpec) -> str:
    """SQL: a checked row that is in the table after this load (not a deletion)."""
    return "_reason IS NULL" + (" AND NOT _tombstone" if spec.incremental else "")


def _self_orphans(con, checked: str, contract: Contract, present: set[str],
                  spec: SourceSpec, old: str | None = None) -> None:
    """Quarantine rows whose parent (same table) is unknown or itself quarantined; in an
    incremental load the parent may also be a row kept from the table as it was.

    Repeated until stable, because quarantining a parent orphans its children in turn.
    """
    for col in contract.columns:
        target = _resolve_reference(col, contract.table, present)
        if not target or target.split(".")[0] != contract.table:
            continue
        key, c = _q(target.split(".")[1]), _q(col.name)
        kept = f" UNION ALL SELECT {key} FROM ({_kept_old(spec, checked, old)})" if old else ""
        while con.execute(
            f"UPDATE {checked} SET _reason = 'orphan:{col.name}' WHERE {_live(spec)} AND "
            f"{c} IS NOT NULL AND {c} NOT IN (SELECT {key} FROM {checked} "
            f"WHERE {_live(spec)}{kept})").fetchall()[0][0]:
            pass


def _delta_keys(spec: SourceSpec, checked: str, where: str = "true") -> str:
    """SQL: the keys this load decides (the latest version of each: upserted, deleted, or
    quarantined, which withdraws the earlier version as a full rebuild would), of the rows
    matching ``where``.

    Not a DISTINCT: the check pass has marked every version of a key but its latest
    superseded (``checks._supersede``), so these keys are distinct already, and grouping
    them again cost 2.9 s of a 10M-customer hourly load (10M event ids)."""
    keys = ", ".join(_q(k) for k in spec.key)
    present = " AND ".join(f"{_q(k)} IS NOT NULL" for k in spec.key)
    return (f"SELECT {keys} FROM {checked} WHERE {present} AND "
            f"_reason IS DISTINCT FROM '{SUPERSEDED}' AND {where}")


def _kept_old(spec: SourceSpec, checked: str, old: str) -> str:
    """SQL: the rows of the table as the last load left it whose key this load leaves be."""
    same = " AND ".join(f"o.{_q(k)} = d.{_q(k)}" for k in spec.key)
    return f"SELECT o.* FROM {old} o ANTI JOIN ({_delta_keys(spec, checked)}) d ON {same}"


def _touched(con, spec: SourceSpec, checked: str, old: str, before: int,
             written: int) -> int:
    """How many rows of the table as it was (``before`` of them) the load replaced or
    removed, from counts alone: the rows it wrote (``written``, merged customers included)
    are the old rows it kept plus its own live rows, so no old row is read again to find
    out."""
    live = con.execute(f"SELECT count(*) FROM {checked} WHERE {_live(spec)}").fetchall()[0][0]
    return before - (written - live)


def _decided_old(spec: SourceSpec, checked: str, old: str) -> str:
    """SQL: the rows of the table as it was (``old``) whose key this load decides."""
    same = " AND ".join(f"o.{_q(k)} = d.{_q(k)}" for k in spec.key)
    return f"SELECT o.* FROM {old} o SEMI JOIN ({_delta_keys(spec, checked)}) d ON {same}"


def _decided_in_delta(spec: SourceSpec) -> str:
    """SQL: ``_decided_old`` of a load written as a delta, from what ``_write_delta`` read
    (customers: with those of the merged customers file), not the table again."""
    sql = f"SELECT * FROM delta_old_{spec.table}"
    if spec.table == "customers":
        keys = ", ".join(_q(k) for k in spec.key)
        sql += (" UNION ALL BY NAME SELECT o.* FROM old_merged_customers o SEMI JOIN "
                f"delta_keys_customers USING ({keys})")
    return sql


def _changed_rows(con, contract: Contract, checked: str, spec: SourceSpec, decided: str,
                  touched: int) -> int:
    """Rows an incremental load added, altered or removed: the rows of the keys it decides,
    after against before (``decided``: SQL of the old ones). A cursor's ``>=`` reads the rows
    of the last instant again, and a row re-read unchanged is no change (so an hourly load
    with nothing new rebuilds no feature view). With no old row ``touched`` (``_touched``),
    every live row of the load is new, and the old rows are not read.

    Counted as the rows in one side and not the other (each distinct row: how many more
    times it is after than before, or before than after), by one grouping of both sides:
    the number ``n EXCEPT ALL o`` plus ``o EXCEPT ALL n`` gives, at a quarter of its CPU
    (0.02 s against 0.11 s for the orders of a 100k-customer load)."""
    exprs = _table_columns(contract)
    if not touched:
        return con.execute(f"SELECT count(*) FROM {checked} WHERE {_live(spec)}"
                           ).fetchall()[0][0]
    names = ", ".join(_q(c.name) for c in contract.columns)
    return int(con.execute(f"""
        WITH n AS (SELECT {', '.join(exprs)} FROM {checked} checked WHERE {_live(spec)}),
             o AS (SELECT {names} FROM ({decided}))
        SELECT coalesce(sum(abs(surplus)), 0) FROM (
            SELECT sum(_side) AS surplus FROM (SELECT *, 1 AS _side FROM n
                                              UNION ALL SELECT *, -1 FROM o) GROUP BY {names})
        """).fetchall()[0][0])


def _table_columns(contract: Contract) -> list[str]:
    """SQL: the canonical table's columns from a checked row (derived amounts converted)."""
    return [f"{_converted(c)} AS {_q(c.name)}" if c.derived else _q(c.name)
            for c in contract.columns]


def _converted(col) -> str:
    """SQL: a derived amount in the base currency (rates of the project's fx_rates); an
    amount without a currency is in the base currency already."""
    amount, currency = col.convert
    if currency is None:
        return f"CAST({_q(amount)} AS DOUBLE)"
    return (f"CASE WHEN checked.{_q(currency)} IS NULL THEN {_q(amount)} ELSE {_q(amount)} * "
            f"fx_rate(checked.{_q(currency)}) END")


def rates(settings: Settings) -> dict[str, float]:
    """The project's FX rates to its base currency (just the base when it has none)."""
    base = settings.project.base_currency if settings.project is not None else None
    return load_fx_rates(settings.fx_rates_path, base)


def _accepted_sql(contract: Contract, checked: str, spec: SourceSpec, old: str | None = None,
                  merged: bool | None = False, ordered: bool = False) -> str:
    """SQL: the table after this load: its accepted rows in source order, after the rows
    kept from the table as it was (incremental). Customers folded into a survivor are left
    out (``merged``: only they, the state the next incremental load merges against; None:
    no filter, for a caller that deletes them from its table after, keeping its order).
    ``ordered``: the checked table is stored in source order (``in_source_order``), so its
    rows are read as they lie instead of sorted again."""
    exprs = _table_columns(contract)
    sql = (f"SELECT {', '.join(exprs)} FROM {checked} checked WHERE {_live(spec)}"
           + ("" if ordered else " ORDER BY _row"))
    if old is not None:
        names = ", ".join(_q(c.name) for c in contract.columns)
        sql = f"SELECT {names} FROM ({_kept_old(spec, checked, old)}) UNION ALL ({sql})"
    if contract.table == "customers" and merged is not None:
        sql = (f"SELECT * FROM ({sql}) WHERE customer_id {'' if merged else 'NOT '}IN "
               "(SELECT merged_id FROM merge_map)")
    return sql


def _quarantine_sql(con, contract: Contract, checked: str, typed: str, label: str,
                    rejected: str | None = None) -> str:
    """The quarantined rows as their original text, read again from the staged view
    (``typed``) for the rows the checks quarantined, if any (the check pass does not hold
    it: ``checks.check_rows``); then the lines the CSV reader refused, with their line
    number and raw text."""
    names = [c.name for c in contract.columns if not c.derived]
    label = label.replace("'", "''")
    tail = (f"c._reason, '{label}' AS _source, CAST(NULL AS BIGINT) AS _line, "
            "CAST(NULL AS VARCHAR) AS _raw_line")
    cols = ", ".join(f"{raw_text(f't.{_q(raw(n))}')} AS {_q(n)}" for n in names)
    sql = (f"SELECT t._row, {cols}, {tail} FROM {typed} t JOIN ({_quarantined(checked)}) c "
           "ON t._row = c._row")
    if not con.execute(f"SELECT count(*) FROM ({_quarantined(checked)})").fetchall()[0][0]:
        sql += " WHERE false"   # nothing to read again: no scan of the source
    if rejected:
        nulls = [f"CAST(NULL AS VARCHAR) AS {_q(n)}" for n in names]
        sql += (f" UNION ALL SELECT CAST(NULL AS BIGINT), {', '.join(nulls)}, reason, "
                f"'csv:' || file, CAST(line AS BIGINT), raw FROM {rejected}")
    return f"SELECT * FROM ({sql}) ORDER BY _row NULLS LAST, _line"


def _quarantined(checked: str) -> str:
    return f"SELECT _row, _reason FROM {checked} WHERE _reason <> '{SUPERSEDED}'"


def _customers_extras(con, checked: str, report: TableReport, writer, settings,
                      spec: SourceSpec, old: str | None = None) -> None:
    """Normalise identifiers of customers, find duplicates, write the merge map; in an
    incremental load, duplicates are looked for among every customer, old and new.
    Phones parsed by an earlier ingest come from the workspace's phone cache; the ones
    parsed now are added to it with this load's commit."""
    folder = phone_cache_dir(settings)
    cached = cache_files(folder)
    report.warnings, new = normalise_identifiers(con, checked, cached)
    if new.num_rows:
        target, compact = next_cache_file(folder, cached)
        writer.parquet(cache_contents(con, cached, new) if compact else new, target)
    merge_map = _merge_map(con, checked, settings, spec, old)
    con.register("merge_map_arrow", merge_map)
    con.execute("CREATE OR REPLACE TABLE merge_map AS SELECT * FROM merge_map_arrow")
    con.unregister("merge_map_arrow")
    report.merged = merge_map.num_rows
    writer.parquet(merge_map, settings.canonical_dir / "customer_merge_map.parquet")


def phone_cache_dir(settings: Settings) -> Path:
    """The workspace's phone cache (``segflow.ingest.identifiers``), beside the tables."""
    return settings.canonical_dir / "_cache" / "phones"


def _merge_map(con, checked: str, settings: Settings, spec: SourceSpec,
               old: str | None) -> pa.Table:
    """Who is whose duplicate: among the load's customers (full), or (incremental) only in
    the groups the load can change, with every other group's rows kept from the last map."""
    columns = "customer_id, signup_ts, email, phone"
    sql = f"SELECT {columns} FROM {checked} WHERE {_live(spec)}"
    last_map = settings.canonical_dir / "customer_merge_map.parquet"
    if old is None or tuple(spec.key) != ("customer_id",) or not last_map.exists():
        if old is not None:
            sql += f" UNION ALL SELECT {columns} FROM ({_kept_old(spec, checked, old)})"
        return find_duplicates(con.sql(sql).to_arrow_table())
    return touched_duplicates(
        con, sql, f"SELECT customer_id FROM ({_delta_keys(spec, checked)})",
        f"SELECT {columns} FROM ({_kept_old(spec, checked, old)})",
        f"SELECT * FROM read_parquet({_text(last_map)})")


def _write_delta(con, contract: Contract, checked: str, writer, settings: Settings,
                 spec: SourceSpec, seq: int) -> tuple[int, int, int, int]:
    """An incremental load's rows as delta ``seq`` of the table (``segflow.canonical``):
    its live rows and the keys it decides, nothing old rewritten. Returns the rows of the
    table after the load, the merged customers kept apart, and both before it. The rows
    before come from the files' footers (``canonical.count``); the rows this load replaces
    are the old rows of its keys (table ``delta_old_<table>``, which ``_changed_rows``
    compares), their count recorded in the keys file for the next load's count.

    Accounts and customers are seen by later tables' foreign-key checks as a view: the
    table as committed less the keys decided here, plus this load's rows."""
    table = contract.table
    base = settings.canonical_dir / f"{table}.parquet"
    rows_name, keys_name = canonical.delta_name(seq)
    folder = canonical.delta_dir(base)
    ordered = in_source_order(con, checked)
    keys = ", ".join(_q(k) for k in spec.key)
    con.execute(f"CREATE OR REPLACE TABLE delta_keys_{table} AS "
                f"{_delta_keys(spec, checked)}")
    if table in FIRST:   # the keys it removes, for the orphan check of rows kept (_orphaned)
        con.execute(f"CREATE OR REPLACE TABLE delta_removed_{table} AS "
                    f"{_delta_keys(spec, checked, f'({_live(spec)}) IS NOT TRUE')}")
    merged, merged_before = 0, 0
    if table == "customers":
        last = state_path(settings, MERGED_CUSTOMERS)
        merged_before = rows_before(last) or 0
        con.execute("CREATE OR REPLACE TEMP VIEW old_merged_customers AS SELECT * FROM "
                    f"read_parquet({_text(last)})")
        merged = writer.parquet_query(
            con, _accepted_sql(contract, checked, spec, "old_merged_customers", merged=True,
                               ordered=ordered),
            last, contract.arrow_schema())
    rows = _accepted_sql(contract, checked, spec, ordered=ordered)
    if table in FIRST:   # read again by the view later tables' foreign keys are checked on
        con.execute(f"CREATE OR REPLACE TABLE delta_rows_{table} AS {rows}")
        rows = f"SELECT * FROM delta_rows_{table}"
    new = writer.parquet_query(con, rows, folder / rows_name, contract.arrow_schema())
    _write_index(con, writer, folder / rows_name, list(spec.key))
    committed = canonical.source(base)
    before = canonical.count(base)
    # the old rows of the keys this load decides (old_rows_sql), read once: counted here,
    # compared by _changed_rows
    con.execute(f"CREATE OR REPLACE TABLE delta_old_{table} AS "
                f"{old_rows_sql(con, writer, base, table, list(spec.key))}")
    hit = con.execute(f"SELECT count(*) FROM delta_old_{table}").fetchall()[0][0]
    key_schema = con.sql(f"SELECT * FROM delta_keys_{table} LIMIT 0").to_arrow_table().schema
    writer.parquet_query(con, f"SELECT * FROM delta_keys_{table}", folder / keys_name,
                         canonical.with_replaced(key_schema, hit))
    if table in FIRST:
        con.execute(f"CREATE OR REPLACE TEMP VIEW accepted_{table} AS SELECT t.* FROM "
                    f"{committed} t ANTI JOIN delta_keys_{table} USING ({keys}) "
                    f"UNION ALL SELECT * FROM delta_rows_{table}")
    return before - hit + new, merged, before, merged_before


def old_rows_sql(con, writer, base: Path, table: str, keys: list[str]) -> str:
    """SQL: the rows of the table as committed (base ``base``) whose key this load decides
    (table ``delta_keys_<table>``). Only the keys the table's key index holds are
    joined (``_indexed_keys``); with none, the table is not read at all. The semi-join
    reads the other columns only for the rows it keeps."""
    committed = canonical.source(base)
    if not _indexed_keys(con, writer, base, table, keys):
        return f"SELECT * FROM {committed} LIMIT 0"
    using = ", ".join(_q(k) for k in keys)
    return f"SELECT t.* FROM {committed} t SEMI JOIN delta_held_{table} USING ({using})"


def _indexed_keys(con, writer, base: Path, table: str, keys: list[str]) -> int:
    """Table ``delta_held_<table>``: the keys this load decides (``delta_keys_<table>``)
    that some file of the table as committed may hold, by the files' key indexes
    (``segflow.keyindex``), and how many: a binary search of the load's key hashes in each,
    so the cost grows with the load. A file whose index is missing or stale has it rebuilt
    from the file (read whole, once) and staged with this load's commit."""
    import numpy as np

    queries: dict[tuple[str, ...], np.ndarray] = {}   # the load's key hashes, per key types
    held: list[np.ndarray] = [np.zeros(0, dtype="<u8")]
    for data in canonical.files(base):
        types = tuple(keyindex.key_types(con, f"read_parquet({_text(data)})", keys))
        if types not in queries:
            queries[types] = keyindex.hashes(con, f"delta_keys_{table}", keys, list(types))
        index = keyindex.load(data, keys, list(types))
        if index is None:
            index = _write_index(con, writer, data, keys)
        held.append(queries[types][keyindex.found(index, queries[types])])
    where = " OR ".join(f"{keyindex.hash_sql(keys, list(t))} IN (SELECT h FROM delta_hits)"
                        for t in queries) or "false"
    con.register("delta_hits", pa.table({"h": keyindex.distinct(np.concatenate(held))}))
    con.execute(f"CREATE OR REPLACE TABLE delta_held_{table} AS SELECT * FROM "
                f"delta_keys_{table} WHERE {where}")
    con.unregister("delta_hits")
    return con.execute(f"SELECT count(*) FROM delta_held_{table}").fetchall()[0][0]


def _write_index(con, writer, data: Path, keys: list[str]):
    """Stage the key index of ``data`` (``segflow.keyindex``), a file of the table this
    commit writes (read from where it is staged) or a committed one whose index is
    missing or stale; returns its sorted key hashes."""
    source = writer.staged(data) or data
    relation = f"read_parquet({_text(source)})"
    types = keyindex.key_types(con, relation, keys)
    hashes = keyindex.hashes(con, relation, keys, types)
    writer.binary(keyindex.encode(source, keys, types, hashes), keyindex.path_of(data))
    return hashes


def _compacts(con, spec: SourceSpec, checked: str, settings: Settings,
              compact_after: tuple[float, int]) -> bool:
    """Whether this incremental load folds the table's deltas into a new base (O(table),
    once in a while) rather than writing a delta of its own (O(delta)): when the deltas,
    this one included, would hold more than ``share`` of the base's rows or number
    ``loads`` (sources.yaml's ``compact_after``)."""
    import pyarrow.parquet as pq

    share, loads = compact_after
    base = settings.canonical_dir / f"{spec.table}.parquet"
    existing = canonical.deltas(base)
    if len(existing) + 1 >= loads:
        return True
    rows = sum(pq.ParquetFile(r).metadata.num_rows for _, r, _ in existing)
    live = con.execute(f"SELECT count(*) FROM {checked} WHERE {_live(spec)}").fetchall()[0][0]
    return rows + live > share * (rows_before(base) or 0)


def _drop_deltas(writer, settings: Settings, table: str) -> int:
    """The table is written whole: its delta files go with the same commit (how many)."""
    found = canonical.deltas(settings.canonical_dir / f"{table}.parquet")
    for _, rows, keys in found:
        writer.remove(rows)
        writer.remove(keys)
        writer.remove(keyindex.path_of(rows))
    return len(found)


def _next_seq(settings: Settings, table: str) -> int:
    existing = canonical.deltas(settings.canonical_dir / f"{table}.parquet")
    return existing[-1][0] + 1 if existing else 1


def _write_accepted(con, contract: Contract, checked: str, writer, settings,
                    spec: SourceSpec, old: str | None = None) -> tuple[int, int]:
    """Stream the accepted rows to the canonical table; keep them only if others refer to them.

    Accounts and customers stay as tables for the foreign-key checks of later tables;
    every other table goes straight from the query to Parquet. An incremental source's
    customers folded into a survivor are kept apart for the next load's duplicate search.
    Returns the rows written to the table and to that file of merged customers.
    """
    ordered = in_source_order(con, checked)
    merged = 0
    if contract.table == "customers" and spec.incremental:
        merged = writer.parquet_query(
            con, _accepted_sql(contract, checked, spec, old, merged=True, ordered=ordered),
            state_path(settings, MERGED_CUSTOMERS), contract.arrow_schema())
    if contract.table not in FIRST:
        sql = _accepted_sql(contract, checked, spec, old, ordered=ordered)
    else:
        # the merged customers deleted from the table, not filtered by a join on the way
        # in: a join does not keep the rows in source order, a delete does
        con.execute(f"CREATE OR REPLACE TABLE accepted_{contract.table} AS "
                    f"{_accepted_sql(contract, checked, spec, old, merged=None, ordered=ordered)}")
        if contract.table == "customers":
            con.execute("DELETE FROM accepted_customers WHERE customer_id IN "
                        "(SELECT merged_id FROM merge_map)")
        sql = f"SELECT * FROM accepted_{contract.table}"   # kept in source order
    base = settings.canonical_dir / f"{contract.table}.parquet"
    written = writer.parquet_query(con, sql, base, contract.arrow_schema())
    if spec.incremental and spec.key:   # later loads look their keys up in it
        _write_index(con, writer, base, list(spec.key))
    elif keyindex.path_of(base).exists():
        writer.remove(keyindex.path_of(base))
    return written, merged


def _process(con, spec: SourceSpec, contract: Contract, plan: list, present: set[str],
             writer, settings: Settings, scan: CsvScan | None = None,
             as_of: datetime | None = None, old: str | None = None,
             compact_after: tuple[float, int] | None = None) -> TableReport:
    """Check one source's rows and write its canonical table; ``old`` (an incremental
    load) is the table as the last load left it, into which the new rows are merged: as a
    delta file of the load's own rows, or (``compact_after`` reached, or None: always) by
    writing the merged table as the new base."""
    report = TableReport(table=contract.table, source=source_label(spec),
                         load="incremental" if old else "full")
    source, row = numbered_source(con, f"src_{spec.table}")
    refs, survivors = _prepare_refs(con, contract, present)
    typed = stage(con, source, contract, plan, spec, row=row)
    currencies = sorted(rates(settings))
    checked = check_rows(con, typed, contract, currencies, refs, as_of, spec, survivors)
    # rows in: the source's rows as the staged view numbered them (_row, before customer
    # ids are rewritten through the merge map), plus, for a CSV source, the lines its reader
    # refused during that same scan (no second read of the source). Not the checked rows
    # recounted: a row doubled or lost after the numbering must break the balance below.
    report.rows_in = con.execute(f"SELECT coalesce(max(_row), 0) FROM {checked}"
                                 ).fetchall()[0][0]
    rejected = None
    if scan is not None:
        rejected = f"rejected_{spec.table}"   # lines the reader refused: rows in, quarantined
        report.rows_in += rejected_lines(con, spec, scan, rejected)
    _self_orphans(con, checked, contract, present, spec, old)
    if contract.table == "customers":
        _customers_extras(con, checked, report, writer, settings, spec, old)
    if old and compact_after and not _compacts(con, spec, checked, settings, compact_after):
        report.delta = _next_seq(settings, contract.table)
        report.written, merged, report.before, merged_before = _write_delta(
            con, contract, checked, writer, settings, spec, report.delta)
        before = report.before + merged_before
    else:
        before = con.execute(f"SELECT count(*) FROM {old}").fetchall()[0][0] if old else 0
        report.written, merged = _write_accepted(con, contract, checked, writer, settings,
                                                 spec, old)
        report.folded = _drop_deltas(writer, settings, contract.table)
    writer.parquet_query(con, _quarantine_sql(con, contract, checked, typed, report.source,
                                              rejected),
                         settings.quarantine_dir / f"{contract.table}.parquet")
    tombstone = "_tombstone" if spec.incremental else "false"
    report.upserted, report.deleted, report.superseded = (int(n) for n in con.execute(
        f"SELECT count(*) FILTER (WHERE _reason IS NULL AND NOT {tombstone}), "
        f"count(*) FILTER (WHERE _reason IS NULL AND {tombstone}), "
        f"count(*) FILTER (WHERE _reason = '{SUPERSEDED}') FROM {checked}").fetchall()[0])
    report.accepted = report.upserted + report.deleted + report.superseded
    if old:
        touched = _touched(con, spec, checked, old, before, report.written + merged)
        decided = (_decided_in_delta(spec) if report.delta is not None
                   else _decided_old(spec, checked, old))
        report.changed = _changed_rows(con, contract, checked, spec, decided, touched)
    else:
        report.changed = report.upserted + report.deleted
    report.quarantined = reason_counts(con, checked, rejected)
    report.first = first_rows(con, writer.staged(settings.quarantine_dir /
                                                  f"{contract.table}.parquet"),
                              list(report.quarantined), contract.names)
    con.execute(f"DROP TABLE {checked}")
    _free_dropped(con)
    if report.rows_in != report.accepted + report.quarantined_total:
        raise SegflowError(f"{spec.label}: rows not conserved: {report.rows_in} in, "
                           f"{report.accepted} accepted, {report.quarantined_total} quarantined")
    return report


CHECKPOINT_ABOVE_MB = 16   # of blocks in the scratch database (DuckDB's own WAL threshold)


def _free_dropped(con) -> None:
    """Checkpoint the scratch database once a table is done (its checked table dropped),
    when its file holds more than ``CHECKPOINT_ABOVE_MB``: the dropped table's blocks are
    then freed for the next table.

    The only checkpoint of an ingest (``_connect`` turns DuckDB's automatic ones off). An
    automatic one fell in the middle of a table and wrote its checked table out, only for
    it to be dropped a few statements later: the merged customer ids' update of 5M orders
    took 3.0 s at 1M customers, 0.35 s without it, and the spill folder's peak is lower
    (984 against 1,286 MB). A small ingest is not checkpointed before it closes, as before."""
    size = con.execute("SELECT (total_blocks - free_blocks) * block_size "
                       "FROM pragma_database_size()").fetchall()[0][0]
    if size > CHECKPOINT_ABOVE_MB << 20:
        con.execute("CHECKPOINT")


# canonical tables ingest computes from a source's table, which change when it does
COMPUTED_FROM = {"accounts": ("account_hierarchy",), "customers": ("customer_merge_map",)}


def changed_tables(report: IngestReport) -> set[str]:
    """The canonical tables this load changed (rows added, altered or removed: a load that
    only re-read rows it had changed nothing), with the tables computed from them (the
    account hierarchy, the customer merge map)."""
    changed = {name for name, t in report.tables.items() if t.changed > 0}
    return changed | {c for t in changed for c in COMPUTED_FROM.get(t, ())}


def _hierarchy(con, writer, settings: Settings) -> None:
    accounts = con.sql("SELECT account_id, parent_account_id FROM accepted_accounts"
                       ).to_arrow_table()
    tree = roll_up(accounts["account_id"].to_numpy(zero_copy_only=False),
                   accounts["parent_account_id"].to_numpy(zero_copy_only=False))
    writer.parquet(tree, settings.canonical_dir / "account_hierarchy.parquet")


def _write_receipts(report: IngestReport, writer, settings: Settings) -> None:
    """What this ingest proved about each canonical file, for the contracts control
    (``segflow.receipts``); tables not ingested this time keep their earlier receipts."""
    import json

    import pyarrow.parquet as pq

    from segflow.receipts import fingerprint, receipt, receipts_path

    target = receipts_path(settings.canonical_dir)
    receipts = json.loads(target.read_text()) if target.exists() else {}
    for table, tr in report.tables.items():
        base = settings.canonical_dir / f"{table}.parquet"
        staged = writer.staged(base)
        if staged is not None:   # a new base: the deltas it folded in go with this commit
            rows = tr.written if tr.delta is None else pq.ParquetFile(staged).metadata.num_rows
            receipts[table] = {**receipt(staged, rows, RECEIPT_CHECKS),
                               "file": f"{table}.parquet"}
        if tr.delta is not None:   # one receipt per delta file: hashing it is O(delta)
            folder = canonical.delta_dir(base)
            rows_file, keys_file = (folder / n for n in canonical.delta_name(tr.delta))
            rows_staged, keys_staged = writer.staged(rows_file), writer.staged(keys_file)
            name = str(rows_file.relative_to(settings.canonical_dir))
            receipts.setdefault(table, {}).setdefault("deltas", {})[name] = {
                **receipt(rows_staged, pq.ParquetFile(rows_staged).metadata.num_rows,
                          RECEIPT_CHECKS), "file": name, "keys": fingerprint(keys_staged)}
        elif staged is not None:
            receipts[table]["deltas"] = {}
        if table in receipts:
            receipts[table]["last_load"] = load_counts(tr)
    writer.json(receipts, target)


def load_counts(tr: TableReport) -> dict:
    """What one load did to a table: rows read = upserted + deleted + superseded +
    quarantined (upserted includes customers folded into a survivor)."""
    return {"load": tr.load, "read": tr.rows_in, "upserted": tr.upserted,
            "deleted": tr.deleted, "superseded": tr.superseded,
            "quarantined": tr.quarantined_total, "rows": tr.written}


def _connect(spill_dir: Path, fx: dict[str, float]):
    """The ingest's working database: a DuckDB file in ``spill_dir`` (removed with it), with
    a memory limit past which DuckDB spills to that folder.

    A file, not an in-memory database: the checked and staged tables are ordinary tables of
    it, which DuckDB writes out and evicts like any other data. Kept as in-memory temporary
    tables, part of them stayed resident past the limit and the 10M-customer ingest failed
    out of memory in its orders (2.8 of a 3 GB limit used); at 1M on a 900 MB limit the
    file database finishes with a 1.5 GB peak (3.7-3.9 GB in memory at 3 GB)."""
    import duckdb

    # without a limit DuckDB kept every staged table in memory (13.6 GB at 1M customers);
    # with it, peak memory stays flat as the data grows and the rest goes to disk
    con = duckdb.connect(str(spill_dir / "ingest.duckdb"),
                         config={"memory_limit": memory_limit(MEMORY_SHARE, MEMORY_CAP_MB),
                                 "temp_directory": str(spill_dir),
                                 # no checkpoint but _process's, once a table is done
                                 "checkpoint_threshold": "1TB"})
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB turns an IN list of more than a few values into a join, which does not keep
    # rows in order; the check pass's table must lie in source order (no sort to write it)
    con.execute("SET disabled_optimizers = 'in_clause'")
    # the FX rates as an expression, not a lookup in a table: a lookup is a join, and a
    # join does not keep the rows of a canonical table in source order
    cases = " ".join(f"WHEN {_text(c)} THEN CAST({_text(repr(float(r)))} AS DOUBLE)"
                     for c, r in fx.items())
    con.execute(f"CREATE MACRO fx_rate(c) AS CASE c {cases} END" if cases else
                "CREATE MACRO fx_rate(c) AS CAST(NULL AS DOUBLE)")
    con.execute("CREATE TABLE merge_map (merged_id VARCHAR, survivor_id VARCHAR, "
                "matched_on VARCHAR)")
    return con


def rows_before(path: Path) -> int | None:
    """Rows of the canonical table a load would replace (from its footer); None when there
    is none, or it is unreadable (a damaged table may always be rebuilt)."""
    import pyarrow.parquet as pq

    if not path.exists():
        return None
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException):
        return None


def shrink_problems(report: IngestReport, sources: Sources, settings: Settings) -> list[str]:
    """Tables this load would empty, or shrink by more than their source's max_shrink."""
    problems = []
    for spec in sources.specs:
        table = report.tables[spec.table]
        before = table.before if table.before is not None else \
            rows_before(settings.canonical_dir / f"{spec.table}.parquet")
        after = table.written
        limit = sources.shrink_limit(spec)
        why = ("the source has no rows (a header only?)" if table.rows_in == 0 else
               f"{table.quarantined_total:,} of its {table.rows_in:,} rows were quarantined"
               + _main_reason(table))
        if after == 0 and not before:
            problems.append(f"{spec.table} would be written empty: {why}")
        elif before and after < before * (1 - limit):
            problems.append(f"{spec.table} would go from {before:,} to {after:,} rows "
                            f"(-{(before - after) / before:.0%}, more than the {limit:.0%} "
                            f"max_shrink); {why}")
    return problems


def _main_reason(table: TableReport) -> str:
    """The reason that quarantined most rows, with its first row and fix: when a table
    would empty, it is almost always one mistake (a delimiter, a names: list, a format)."""
    if not table.quarantined:
        return ""
    reason, count = max(table.quarantined.items(), key=lambda kv: kv[1])
    first = table.first.get(reason)
    return f", most as {reason} ({count:,})" + (f", {first}" if first else "")


def _check_shrink(report: IngestReport, sources: Sources, settings: Settings) -> None:
    problems = shrink_problems(report, sources, settings)
    if problems:
        raise ShrinkRefused(
            "ingest refused, nothing was written: " + "; ".join(problems) + ". If the source "
            "is right, run `segflow ingest --allow-shrink`; the limit is `max_shrink:` in "
            f"{sources.file} (for all sources, or per source)")


def ingest_as_of(as_of, sources: Sources) -> datetime:
    """The time the sources describe: the argument, else sources.yaml's ``as_of``, else now."""
    return parse_as_of(as_of if as_of is not None else sources.as_of)


def default_sources(settings: Settings) -> Path:
    """The sources.yaml ingest reads when none is named: the project's own when it has one,
    else the one a demo writes into the workspace."""
    project = settings.project_sources_path if settings.project is not None else None
    if project is not None and project.is_file():
        return project
    return settings.sources_dir / "sources.yaml"


def _open_all(con, specs: list[SourceSpec], contracts: dict[str, Contract], spill_dir: Path,
              marks: dict | None = None, read: dict | None = None,
              fx: dict | None = None) -> tuple[dict, dict, dict]:
    """Open every source and check every schema before any table is processed; the schema
    problems of all sources are reported together, in one error. A derived source is opened
    once the source it reads is typed. With ``marks`` (an incremental load) a source with a
    cursor shows only its rows past the watermark; one with nothing new is left out of the
    opened sources; so is a file source without a cursor whose files and configuration are
    those its last read (``read``) was checked with. Returns the opened sources, their
    staging plans and the watermarks after this load."""
    opened, plans, problems, after = {}, {}, [], {}
    whole = [s for s in specs if s.derived_from is None]
    derived = [s for s in specs if s.derived_from is not None]
    fed = {s.derived_from for s in derived}
    for spec in whole + derived:
        mark = (marks or {}).get(spec.table)
        if marks is not None and spec.table not in fed and unchanged_since(
                spec, contracts[spec.table], fx or {}, (read or {}).get(spec.table)):
            continue    # the same files, checked the same way, as the last load read
        if spec.derived_from is not None:
            feed = next(s for s in specs if s.table == spec.derived_from)
            if feed.table not in plans:
                continue   # its feed's schema is wrong, reported already
            contract = contracts[feed.table]
            typed = stage(con, opened[feed.table][0], contract, plans[feed.table], feed,
                          name=f"feed_{feed.table}")
            columns = [c.name for c in contract.columns if not c.derived]
            opened[spec.table] = (open_derived(con, spec, typed, columns), None)
        else:
            spec = new_files(spec, mark)
            if spec.incremental and not spec.files and spec.cursor_files:
                after[spec.table] = next_mark(con, spec, None, mark)
                continue    # no new file
            opened[spec.table] = open_source(con, spec, spill_dir, since(spec, mark))
            if spec.incremental:
                after[spec.table] = next_mark(con, spec, opened[spec.table][0], mark)
                if mark is not None and spec.cursor_column and not con.execute(
                        f"SELECT count(*) FROM {opened[spec.table][0]}").fetchall()[0][0]:
                    del opened[spec.table]
                    continue    # no new row
        try:
            plans[spec.table] = check_schema(con, spec, opened[spec.table][0],
                                             contracts[spec.table])
        except SchemaChangedError as err:
            problems.append(str(err))
    if problems:
        raise SchemaChangedError(" | ".join(problems))
    return opened, plans, after


def _record_files_read(specs, contracts, fx, opened, last_read, report, writer,
                       settings: Settings) -> None:
    """Commit with the tables what each whole-read file source was checked with (its
    entry kept from the last load where this one left it be)."""
    now = {}
    for spec in specs:
        if spec.table in opened:
            orphans = sum(n for r, n in report.tables[spec.table].quarantined.items()
                          if r.startswith("orphan:"))
            entry = files_read(spec, contracts[spec.table], fx, orphans)
        else:
            entry = last_read.get(spec.table)
        if entry is not None:
            now[spec.table] = entry
    if now or last_read:
        writer.json(now, state_path(settings, SOURCES_READ))


def _old(con, spec: SourceSpec, settings: Settings) -> str:
    """A view of the canonical table as the last load left it (customers: with those merged
    into a survivor, whom new customers may match too)."""
    sql = canonical.sql(settings.canonical_dir / f"{spec.table}.parquet")
    if spec.table == "customers":
        sql += (" UNION ALL BY NAME SELECT * FROM read_parquet("
                f"{_text(state_path(settings, MERGED_CUSTOMERS))})")
    con.execute(f"CREATE OR REPLACE TEMP VIEW old_{spec.table} AS {sql}")
    return f"old_{spec.table}"


def _text(value) -> str:
    """A SQL string literal (a path, a currency code)."""
    return "'" + str(value).replace("'", "''") + "'"


def _unchanged(con, spec: SourceSpec, settings: Settings) -> TableReport:
    """A source with nothing new: its table stays; accounts and customers are loaded for
    the foreign-key checks of the tables that refer to them."""
    path = settings.canonical_dir / f"{spec.table}.parquet"
    if spec.table in FIRST:   # a view: a foreign-key check reads the key column alone
        con.execute(f"CREATE OR REPLACE TEMP VIEW accepted_{spec.table} AS "
                    f"{canonical.sql(path)}")
    if spec.table == "customers":
        con.execute("INSERT INTO merge_map SELECT * FROM read_parquet("
                    f"{_text(settings.canonical_dir / 'customer_merge_map.parquet')})")
    return TableReport(table=spec.table, source=source_label(spec), load="unchanged",
                       written=canonical.count(path) if path.exists() else 0)


def _compact(con, contract: Contract, writer, settings: Settings) -> int:
    """Fold a table's deltas into a new base (``segflow ingest --compact``); how many."""
    base = settings.canonical_dir / f"{contract.table}.parquet"
    if not canonical.has_deltas(base):
        return 0
    writer.parquet_query(con, canonical.sql(base), base, contract.arrow_schema())
    return _drop_deltas(writer, settings, contract.table)


def _survivors_moved(con, settings: Settings) -> int:
    """Customers of the last load whose survivor is no longer the one their rows in other
    tables were rewritten to (merged with someone else, split off, or a merged one
    deleted): those rows no longer say whose they are, so only a full rebuild is exact."""
    paths = [settings.canonical_dir / f for f in ("customer_merge_map.parquet",
                                                  "customers.parquet")]
    if not all(p.exists() for p in paths):
        raise NeedsFullLoad("the customers of the last load are missing")
    old_map, old_customers = _text(paths[0]), canonical.source(paths[1])
    # only a customer merged before or now can have moved: one in neither map was and is
    # its own survivor, or is gone (then its rows are checked by _orphaned). So only those
    # are looked up, not a join of every customer before against every one now (1.6 s of
    # a 10M-customer hourly load)
    return con.execute(f"""
        WITH merged AS (SELECT merged_id AS id FROM read_parquet({old_map})
                        UNION SELECT merged_id FROM merge_map),
             before AS (SELECT customer_id AS id, customer_id AS was FROM {old_customers}
                        WHERE customer_id IN (SELECT id FROM merged)
                        UNION ALL SELECT merged_id, survivor_id FROM read_parquet({old_map})),
             now AS (SELECT customer_id AS id, customer_id AS survivor FROM accepted_customers
                     WHERE customer_id IN (SELECT id FROM merged)
                     UNION ALL SELECT merged_id, survivor_id FROM merge_map)
        SELECT count(*) FROM before LEFT JOIN now USING (id)
        WHERE (now.survivor IS NOT NULL AND now.survivor <> before.was)
           OR (now.survivor IS NULL AND before.id <> before.was)""").fetchall()[0][0]


def _orphaned(con, specs: list[SourceSpec], contracts: dict[str, Contract], present: set[str],
              report: IngestReport, writer, settings: Settings) -> str | None:
    """A row kept from an earlier load that now points at a removed account or customer
    (deleted, or withdrawn by a quarantined update): a full rebuild would quarantine it, so
    the load is redone in full. Returns what was found, or None."""
    for ref in FIRST:
        if ref not in present or report.tables[ref].load == "unchanged":
            continue
        key = _q(contracts[ref].key[0])
        if report.tables[ref].delta is not None:   # removed: the load's own keys, not live
            con.execute(f"CREATE OR REPLACE TABLE removed_{ref} AS SELECT {key} AS id "
                        f"FROM delta_removed_{ref}")
        else:
            old = canonical.source(settings.canonical_dir / f"{ref}.parquet")
            con.execute(f"CREATE OR REPLACE TABLE removed_{ref} AS SELECT {key} AS id "
                        f"FROM {old} EXCEPT SELECT {key} FROM accepted_{ref}")
        if not con.execute(f"SELECT count(*) FROM removed_{ref}").fetchall()[0][0]:
            continue    # nothing removed: no row can point at a removed one (no table scan)
        for spec in specs:
            after = _after(report.tables[spec.table], writer, settings)
            for col in contracts[spec.table].columns:
                target = _resolve_reference(col, spec.table, present)
                if target is None or target.split(".")[0] != ref:
                    continue
                hit = con.execute(f"SELECT {_q(col.name)} FROM {after} "
                                  f"WHERE {_q(col.name)} IN "
                                  f"(SELECT id FROM removed_{ref}) LIMIT 1").fetchall()
                if hit:
                    return f"{spec.table}.{col.name} refers to {ref} {hit[0][0]!r}, removed"
    return None


def _after(tr: TableReport, writer, settings: Settings) -> str:
    """SQL relation: the table as this load leaves it, before its commit (its staged base,
    or its committed base and deltas with the staged delta of this load)."""
    base = settings.canonical_dir / f"{tr.table}.parquet"
    staged = writer.staged(base)
    if staged is not None:
        return f"read_parquet({_text(staged)})"
    if tr.delta is None:
        return canonical.source(base)
    folder = canonical.delta_dir(base)
    rows, keys = (writer.staged(folder / n) for n in canonical.delta_name(tr.delta))
    return canonical.source(base, [(rows, keys)])


def _check_incremental(con, specs, contracts, present, report, writer, settings) -> None:
    """Raise ``NeedsFullLoad`` where merging gave what a full rebuild would not."""
    if "customers" in present and report.tables["customers"].load != "unchanged":
        moved = _survivors_moved(con, settings)
        if moved:
            raise NeedsFullLoad(f"{moved:,} customer(s) changed survivor")
    why = _orphaned(con, specs, contracts, present, report, writer, settings)
    if why:
        raise NeedsFullLoad(why)


@holds_workspace("ingest")
def run_ingest(settings: Settings, sources_yaml: Path | None = None, *, as_of=None,
               allow_shrink: bool = False, full: bool = False,
               only: str | None = None, compact: bool = False) -> IngestReport:
    """Ingest every source of ``sources_yaml`` (default: ``default_sources``).

    ``as_of`` is when the sources were extracted (timestamps after it, plus each contract's
    tolerance, are quarantined); ``allow_shrink`` lets a load empty or shrink a table.
    Sources with a cursor are read from their watermark on and merged into their tables
    (``segflow.ingest.incremental``), unless ``full`` asks for a rebuild from scratch.
    ``only`` (a scheduled load) reads that one source from its watermark and leaves every
    other table as it is; where that source cannot be loaded so (no watermark yet, a
    stale one, a merge a full rebuild would not give), every source is loaded in full.
    An incremental load writes each changed table's rows as a delta file
    (``segflow.canonical``) until sources.yaml's ``compact_after`` folds them into the
    base; ``compact`` folds them in this load.
    """
    require_duckdb(settings, "ingest")
    sources_yaml = Path(sources_yaml or default_sources(settings))
    sources = read_sources(sources_yaml, settings.contracts_dir, settings.source_timezone)
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.canonical_dir.mkdir(parents=True, exist_ok=True)
    finish_commit(settings.canonical_dir / JOURNAL)  # complete an interrupted commit first
    if only is not None and only not in {s.table for s in sources.specs}:
        raise SegflowError(f"no source '{only}' in {sources_yaml}; sources: "
                           f"{', '.join(s.table for s in sources.specs)}")
    marks, why = (None, "--full") if full else usable_marks(sources, settings, only)
    if marks is not None:
        try:
            return _ingest(settings, sources, sources_yaml, as_of, allow_shrink, marks, only,
                           COMPACT_NOW if compact else sources.compact_after)
        except NeedsFullLoad as err:
            why = str(err)
    report = _ingest(settings, sources, sources_yaml, as_of, allow_shrink, None)
    if any(s.incremental for s in sources.specs):
        report.full_because = why
    return report


def _ingest(settings: Settings, sources: Sources, sources_yaml: Path, as_of,
            allow_shrink: bool, marks: dict | None, only: str | None = None,
            compact_after: tuple[float, int] | None = None) -> IngestReport:
    """One load: full (``marks`` None) or incremental from the watermarks ``marks`` (of
    the one source ``only`` when given: every other table is left as it is)."""
    when = ingest_as_of(as_of, sources)
    specs = sorted(sources.specs, key=lambda s: (FIRST.index(s.table) if s.table in FIRST
                                                 else len(FIRST)))
    contracts = load_contracts(settings.contracts_dir)
    present = {s.table for s in specs}
    report = IngestReport(sources_yaml=str(sources_yaml), as_of=when.isoformat())
    writer = StagedWriter(settings.canonical_dir / JOURNAL, settings)
    spill_dir = Path(tempfile.mkdtemp(prefix=".ingest-spill-", dir=settings.home))
    con = _connect(spill_dir, rates(settings))
    try:
        fx = rates(settings)
        last_read = read_state(settings, SOURCES_READ)
        with progress.stage(f"read {len(specs)} source(s)"):
            opened, plans, after = _open_all(con, [s for s in specs if only in (None, s.table)],
                                             contracts, spill_dir, marks, last_read, fx)
        reach(settings, "ingest.checked")
        for spec in specs:
            if spec.table not in opened:
                report.tables[spec.table] = _unchanged(con, spec, settings)
                if compact_after == COMPACT_NOW:
                    report.tables[spec.table].folded = _compact(con, contracts[spec.table],
                                                                writer, settings)
                continue
            old = _old(con, spec, settings) if marks and spec.incremental else None
            with progress.stage(f"checked and loaded {spec.table}"):
                report.tables[spec.table] = _process(con, spec, contracts[spec.table],
                                                     plans[spec.table], present, writer,
                                                     settings, opened[spec.table][1], when, old,
                                                     compact_after)
        if marks:
            _check_incremental(con, specs, contracts, present, report, writer, settings)
        if not allow_shrink:
            _check_shrink(report, sources, settings)
        if "accounts" in present:
            _hierarchy(con, writer, settings)
        if after:
            writer.json({**read_watermarks(settings), **after},
                        state_path(settings, WATERMARKS))
        _record_files_read(specs, contracts, fx, opened, last_read, report, writer, settings)
        report.outputs = {str(p.relative_to(settings.home)): str(p) for p in writer.targets}
        _write_receipts(report, writer, settings)
        writer.json(report.to_dict(), settings.quarantine_dir / "report.json")
        reach(settings, "ingest.staged")
        writer.commit()
        prune_cache(phone_cache_dir(settings))
    finally:
        writer.discard()
        con.close()
        shutil.rmtree(spill_dir, ignore_errors=True)
    return report
