"""``run_ingest``: every configured source -> contract-checked canonical tables.

Order of work: read and type-check every source first (a changed schema stops the run before
anything is written); then accounts, then customers (normalised and de-duplicated, giving the
merge map), then every other table with its customer ids rewritten through the merge map and
its foreign keys checked against what was accepted. Outputs are committed together at the end.

Memory: file sources are scanned by DuckDB, staged as views, checked into one table per source
(dropped once written) and streamed to Parquet; DuckDB spills to a folder in the workspace past
its memory limit. SQL and DuckDB-file sources are still read into memory (see connectors).

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

from segflow.db import memory_limit
from segflow.engines import require_duckdb
from segflow.errors import CheckFailed, SchemaChangedError, SegflowError
from segflow.faults import reach
from segflow.ingest.advice import first_rows
from segflow.ingest.checks import check_rows, reason_counts
from segflow.ingest.coerce import check_schema, raw, stage
from segflow.ingest.connectors import (
    CsvScan,
    open_derived,
    open_source,
    rejected_lines,
    source_label,
)
from segflow.ingest.contract import Contract, load_contracts, load_fx_rates
from segflow.ingest.dedupe import find_duplicates
from segflow.ingest.hierarchy import roll_up
from segflow.ingest.identifiers import normalise_identifiers
from segflow.ingest.output import IngestReport, StagedWriter, TableReport, finish_commit
from segflow.ingest.sources import Sources, SourceSpec, read_sources
from segflow.lock import holds_workspace
from segflow.receipts import JOURNAL
from segflow.settings import Settings
from segflow.timeutil import parse_as_of

MEMORY_SHARE = 0.6   # of RAM DuckDB may hold before spilling to the workspace ...
MEMORY_CAP_MB = 3072  # ... but no more than this: big tables spill rather than crowd the host
FIRST = ("accounts", "customers")          # tables others refer to are processed first


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


def _self_orphans(con, checked: str, contract: Contract, present: set[str]) -> None:
    """Quarantine rows whose parent (same table) is unknown or itself quarantined.

    Repeated until stable, because quarantining a parent orphans its children in turn.
    """
    for col in contract.columns:
        target = _resolve_reference(col, contract.table, present)
        if not target or target.split(".")[0] != contract.table:
            continue
        key, c = _q(target.split(".")[1]), _q(col.name)
        while con.execute(
            f"UPDATE {checked} SET _reason = 'orphan:{col.name}' WHERE _reason IS NULL AND "
            f"{c} IS NOT NULL AND {c} NOT IN (SELECT {key} FROM {checked} "
            f"WHERE _reason IS NULL)").fetchall()[0][0]:
            pass


def _converted(col) -> str:
    """SQL: a derived amount in the base currency (rates of the project's fx_rates); an
    amount without a currency is in the base currency already."""
    amount, currency = col.convert
    if currency is None:
        return f"CAST({_q(amount)} AS DOUBLE)"
    return (f"CASE WHEN checked.{_q(currency)} IS NULL THEN {_q(amount)} ELSE {_q(amount)} * "
            f"(SELECT rate FROM fx_rates f WHERE f.currency = checked.{_q(currency)}) END")


def rates(settings: Settings) -> dict[str, float]:
    """The project's FX rates to its base currency (just the base when it has none)."""
    base = settings.project.base_currency if settings.project is not None else None
    return load_fx_rates(settings.fx_rates_path, base)


def _accepted_sql(contract: Contract, checked: str) -> str:
    exprs = [f"{_converted(c)} AS {_q(c.name)}" if c.derived else _q(c.name)
             for c in contract.columns]
    where = "_reason IS NULL"
    if contract.table == "customers":
        where += " AND customer_id NOT IN (SELECT merged_id FROM merge_map)"
    return f"SELECT {', '.join(exprs)} FROM {checked} checked WHERE {where} ORDER BY _row"


def _quarantine_sql(contract: Contract, checked: str, typed: str, label: str,
                    rejected: str | None = None) -> str:
    """The quarantined rows as their original text, read again from the staged view; then
    the lines the CSV reader refused, with their line number and raw text."""
    cols = [f"t.{_q(raw(c.name))} AS {_q(c.name)}" for c in contract.columns if not c.derived]
    label = label.replace("'", "''")
    sql = (f"SELECT t._row, {', '.join(cols)}, c._reason, '{label}' AS _source, "
           "CAST(NULL AS BIGINT) AS _line, CAST(NULL AS VARCHAR) AS _raw_line "
           f"FROM {typed} t JOIN (SELECT _row, _reason FROM {checked} "
           "WHERE _reason IS NOT NULL) c ON t._row = c._row")
    if rejected:
        nulls = [f"CAST(NULL AS VARCHAR) AS {_q(c.name)}" for c in contract.columns
                 if not c.derived]
        sql += (f" UNION ALL SELECT CAST(NULL AS BIGINT), {', '.join(nulls)}, reason, "
                f"'csv:' || file, CAST(line AS BIGINT), raw FROM {rejected}")
    return f"SELECT * FROM ({sql}) ORDER BY _row NULLS LAST, _line"


def _customers_extras(con, checked: str, report: TableReport, writer, settings) -> None:
    """Normalise identifiers of customers, find duplicates, write the merge map."""
    report.warnings = normalise_identifiers(con, checked)
    good = con.sql(f"SELECT customer_id, signup_ts, email, phone FROM {checked} "
                   "WHERE _reason IS NULL").to_arrow_table()
    merge_map = find_duplicates(good)
    con.register("merge_map_arrow", merge_map)
    con.execute("CREATE OR REPLACE TEMP TABLE merge_map AS SELECT * FROM merge_map_arrow")
    con.unregister("merge_map_arrow")
    report.merged = merge_map.num_rows
    writer.parquet(merge_map, settings.canonical_dir / "customer_merge_map.parquet")


def _write_accepted(con, contract: Contract, checked: str, writer, settings) -> int:
    """Stream the accepted rows to the canonical table; keep them only if others refer to them.

    Accounts and customers stay as temp tables for the foreign-key checks of later tables;
    every other table goes straight from the query to Parquet.
    """
    sql = _accepted_sql(contract, checked)
    if contract.table in FIRST:
        con.execute(f"CREATE OR REPLACE TEMP TABLE accepted_{contract.table} AS {sql}")
        sql = f"SELECT * FROM accepted_{contract.table}"   # kept in source order
    return writer.parquet_query(con, sql,
                                settings.canonical_dir / f"{contract.table}.parquet",
                                contract.arrow_schema())


def _process(con, spec: SourceSpec, contract: Contract, plan: list, present: set[str],
             writer, settings: Settings, scan: CsvScan | None = None,
             as_of: datetime | None = None) -> TableReport:
    report = TableReport(table=contract.table, source=source_label(spec))
    source = f"src_{spec.table}"
    rejected = None
    if scan is None:
        report.rows_in = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    else:  # every column read, as the checks will read them: a bare count(*) parses less
        report.rows_in = con.execute(f"SELECT count(*) FILTER (WHERE hash(t) IS NOT NULL) "
                                     f"FROM {source} t").fetchall()[0][0]
        rejected = f"rejected_{spec.table}"   # lines the reader refused: rows in, quarantined
        report.rows_in += rejected_lines(con, spec, scan, rejected)
    refs, survivors = _prepare_refs(con, contract, present)
    typed = stage(con, source, contract, plan, survivors, spec)
    currencies = sorted(rates(settings))
    checked = check_rows(con, typed, contract, currencies, refs, as_of, spec)
    _self_orphans(con, checked, contract, present)
    if contract.table == "customers":
        _customers_extras(con, checked, report, writer, settings)
    report.written = _write_accepted(con, contract, checked, writer, settings)
    writer.parquet_query(con, _quarantine_sql(contract, checked, typed, report.source,
                                              rejected),
                         settings.quarantine_dir / f"{contract.table}.parquet")
    report.accepted = report.written + report.merged
    report.quarantined = reason_counts(con, checked, rejected)
    report.first = first_rows(con, writer.staged(settings.quarantine_dir /
                                                  f"{contract.table}.parquet"),
                              list(report.quarantined), contract.names)
    con.execute(f"DROP TABLE {checked}")
    if report.rows_in != report.accepted + report.quarantined_total:
        raise SegflowError(f"{spec.label}: rows not conserved: {report.rows_in} in, "
                           f"{report.accepted} accepted, {report.quarantined_total} quarantined")
    return report


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

    from segflow.receipts import receipt, receipts_path

    target = receipts_path(settings.canonical_dir)
    receipts = json.loads(target.read_text()) if target.exists() else {}
    for table, tr in report.tables.items():
        staged = writer.staged(settings.canonical_dir / f"{table}.parquet")
        if staged is not None:
            receipts[table] = {**receipt(staged, tr.written, RECEIPT_CHECKS),
                               "file": f"{table}.parquet"}
    writer.json(receipts, target)


def _connect(spill_dir: Path, fx: dict[str, float]):
    """An in-memory DuckDB that spills to ``spill_dir`` rather than exhausting memory."""
    import duckdb

    # without a limit DuckDB kept every staged table in memory (13.6 GB at 1M customers);
    # with it, peak memory stays flat as the data grows and the rest goes to disk
    con = duckdb.connect(config={"memory_limit": memory_limit(MEMORY_SHARE, MEMORY_CAP_MB),
                                 "temp_directory": str(spill_dir)})
    con.execute("SET TimeZone = 'UTC'")
    con.register("fx_rates_arrow", pa.table({"currency": list(fx), "rate": list(fx.values())},
                                            schema=pa.schema([("currency", pa.string()),
                                                              ("rate", pa.float64())])))
    con.execute("CREATE TEMP TABLE fx_rates AS SELECT * FROM fx_rates_arrow")
    con.execute("CREATE TEMP TABLE merge_map (merged_id VARCHAR, survivor_id VARCHAR, "
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
        before, after = rows_before(settings.canonical_dir / f"{spec.table}.parquet"), \
            table.written
        limit = sources.shrink_limit(spec)
        why = ("the source has no rows (a header only?)" if table.rows_in == 0 else
               f"{table.quarantined_total:,} of its {table.rows_in:,} rows were quarantined")
        if after == 0 and not before:
            problems.append(f"{spec.table} would be written empty: {why}")
        elif before and after < before * (1 - limit):
            problems.append(f"{spec.table} would go from {before:,} to {after:,} rows "
                            f"(-{(before - after) / before:.0%}, more than the {limit:.0%} "
                            f"max_shrink); {why}")
    return problems


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


def _open_all(con, specs: list[SourceSpec], contracts: dict[str, Contract], spill_dir: Path
              ) -> tuple[dict, dict]:
    """Open every source and check every schema before any table is processed; the schema
    problems of all sources are reported together, in one error. A derived source is opened
    once the source it reads is typed."""
    opened, plans, problems = {}, {}, []
    read = [s for s in specs if s.derived_from is None]
    derived = [s for s in specs if s.derived_from is not None]
    for spec in read + derived:
        if spec.derived_from is not None:
            feed = next(s for s in specs if s.table == spec.derived_from)
            if feed.table not in plans:
                continue   # its feed's schema is wrong, reported already
            contract = contracts[feed.table]
            typed = stage(con, opened[feed.table][0], contract, plans[feed.table], (), feed,
                          name=f"feed_{feed.table}")
            columns = [c.name for c in contract.columns if not c.derived]
            opened[spec.table] = (open_derived(con, spec, typed, columns), None)
        else:
            opened[spec.table] = open_source(con, spec, spill_dir)
        try:
            plans[spec.table] = check_schema(con, spec, opened[spec.table][0],
                                             contracts[spec.table])
        except SchemaChangedError as err:
            problems.append(str(err))
    if problems:
        raise SchemaChangedError(" | ".join(problems))
    return opened, plans


@holds_workspace("ingest")
def run_ingest(settings: Settings, sources_yaml: Path | None = None, *, as_of=None,
               allow_shrink: bool = False) -> IngestReport:
    """Ingest every source of ``sources_yaml`` (default: ``default_sources``).

    ``as_of`` is when the sources were extracted (timestamps after it, plus each contract's
    tolerance, are quarantined); ``allow_shrink`` lets a load empty or shrink a table.
    """
    require_duckdb(settings, "ingest")
    sources_yaml = Path(sources_yaml or default_sources(settings))
    sources = read_sources(sources_yaml, settings.contracts_dir)
    when = ingest_as_of(as_of, sources)
    specs = sorted(sources.specs, key=lambda s: (FIRST.index(s.table) if s.table in FIRST
                                                 else len(FIRST)))
    contracts = load_contracts(settings.contracts_dir)
    present = {s.table for s in specs}
    report = IngestReport(sources_yaml=str(sources_yaml), as_of=when.isoformat())
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.canonical_dir.mkdir(parents=True, exist_ok=True)
    finish_commit(settings.canonical_dir / JOURNAL)  # complete an interrupted commit first
    writer = StagedWriter(settings.canonical_dir / JOURNAL, settings)
    spill_dir = Path(tempfile.mkdtemp(prefix=".ingest-spill-", dir=settings.home))
    con = _connect(spill_dir, rates(settings))
    try:
        opened, plans = _open_all(con, specs, contracts, spill_dir)
        reach(settings, "ingest.checked")
        for spec in specs:
            report.tables[spec.table] = _process(con, spec, contracts[spec.table],
                                                 plans[spec.table], present, writer, settings,
                                                 opened[spec.table][1], when)
        if not allow_shrink:
            _check_shrink(report, sources, settings)
        if "accounts" in present:
            _hierarchy(con, writer, settings)
        report.outputs = {str(p.relative_to(settings.home)): str(p) for p in writer.targets}
        _write_receipts(report, writer, settings)
        writer.json(report.to_dict(), settings.quarantine_dir / "report.json")
        reach(settings, "ingest.staged")
        writer.commit()
    finally:
        writer.discard()
        con.close()
        shutil.rmtree(spill_dir, ignore_errors=True)
    return report
