"""``run_ingest``: every configured source -> contract-checked canonical tables.

Order of work: read and type-check every source first (a changed schema stops the run before
anything is written); then accounts, then customers (normalised and de-duplicated, giving the
merge map), then every other table with its customer ids rewritten through the merge map and
its foreign keys checked against what was accepted. Outputs are committed together at the end.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from ingest.checks import check_rows, reason_counts
from ingest.coerce import raw, stage
from ingest.connectors import open_source, source_label
from ingest.contract import Contract, load_contracts, load_fx_rates
from ingest.dedupe import find_duplicates
from ingest.hierarchy import roll_up
from ingest.identifiers import normalise_identifiers
from ingest.output import IngestReport, StagedWriter, TableReport
from ingest.sources import SourceSpec, load_sources
from segflow.errors import SegflowError
from segflow.settings import Settings

FIRST = ("accounts", "customers")          # tables others refer to are processed first
DERIVED = {("orders", "amount_inr"): "amount * (SELECT rate FROM fx_rates f "
                                     "WHERE f.currency = checked.currency)"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _resolve_reference(col, table: str, present: set[str]) -> str | None:
    """The first referenced ``table.column`` that this run ingests (None: nothing to check)."""
    return next((r for r in col.references if r.split(".")[0] in present), None)


def _prepare_refs(con, contract: Contract, typed: str, present: set[str]) -> dict[str, str]:
    """Rewrite merged customer ids, then give each foreign-key column its reference view."""
    refs = {}
    for col in contract.columns:
        target = _resolve_reference(col, contract.table, present)
        if target is None or target.split(".")[0] == contract.table:
            continue  # self-references (account parents) are settled after the row checks
        ref_table, ref_col = target.split(".")
        if ref_table == "customers":
            con.execute(f"UPDATE {typed} SET {_q(col.name)} = mm.survivor_id FROM merge_map mm "
                        f"WHERE {typed}.{_q(col.name)} = mm.merged_id")
        view = f"ref_{ref_table}_{ref_col}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS "
                    f"SELECT {_q(ref_col)} AS id FROM accepted_{ref_table}")
        refs[col.name] = view
    return refs


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


def _accepted_sql(contract: Contract, checked: str) -> str:
    exprs = [f"{DERIVED[(contract.table, c.name)]} AS {_q(c.name)}" if c.derived
             else _q(c.name) for c in contract.columns]
    where = "_reason IS NULL"
    if contract.table == "customers":
        where += " AND customer_id NOT IN (SELECT merged_id FROM merge_map)"
    return f"SELECT {', '.join(exprs)} FROM {checked} checked WHERE {where} ORDER BY _row"


def _quarantine_sql(contract: Contract, checked: str, label: str) -> str:
    cols = [f"{_q(raw(c.name))} AS {_q(c.name)}" for c in contract.columns if not c.derived]
    label = label.replace("'", "''")
    return (f"SELECT _row, {', '.join(cols)}, _reason, '{label}' AS _source FROM {checked} "
            "WHERE _reason IS NOT NULL ORDER BY _row")


def _customers_extras(con, checked: str, report: TableReport, writer, settings) -> None:
    """Normalise identifiers of customers, find duplicates, write the merge map."""
    report.warnings = normalise_identifiers(con, checked)
    good = con.sql(f"SELECT customer_id, signup_ts, email, phone FROM {checked} "
                       "WHERE _reason IS NULL").to_arrow_table()
    merge_map = find_duplicates(good)
    con.register("merge_map_arrow", merge_map)
    con.execute("CREATE OR REPLACE TEMP TABLE merge_map AS SELECT * FROM merge_map_arrow")
    report.merged = merge_map.num_rows
    writer.parquet(merge_map, settings.canonical_dir / "customer_merge_map.parquet")


def _process(con, spec: SourceSpec, contract: Contract, present: set[str], writer,
             settings: Settings) -> TableReport:
    typed = f"typed_{contract.table}"
    report = TableReport(table=contract.table, source=source_label(spec))
    refs = _prepare_refs(con, contract, typed, present)
    checked = check_rows(con, typed, contract, sorted(load_fx_rates()), refs)
    _self_orphans(con, checked, contract, present)
    if contract.table == "customers":
        _customers_extras(con, checked, report, writer, settings)
    con.execute(f"CREATE OR REPLACE TEMP TABLE accepted_{contract.table} AS "
                f"{_accepted_sql(contract, checked)}")
    accepted = con.sql(f"SELECT * FROM accepted_{contract.table}").to_arrow_table()
    report.written = accepted.num_rows
    writer.parquet(accepted.cast(contract.arrow_schema()),
                   settings.canonical_dir / f"{contract.table}.parquet")
    writer.parquet(con.sql(_quarantine_sql(contract, checked, report.source)).to_arrow_table(),
                   settings.quarantine_dir / f"{contract.table}.parquet")
    report.rows_in = con.execute(f"SELECT count(*) FROM {typed}").fetchall()[0][0]
    report.accepted = report.written + report.merged
    report.quarantined = reason_counts(con, checked)
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


def _connect():
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rates = load_fx_rates()
    con.register("fx_rates_arrow", pa.table({"currency": list(rates),
                                             "rate": list(rates.values())}))
    con.execute("CREATE TEMP TABLE fx_rates AS SELECT * FROM fx_rates_arrow")
    con.execute("CREATE TEMP TABLE merge_map (merged_id VARCHAR, survivor_id VARCHAR, "
                "matched_on VARCHAR)")
    return con


def run_ingest(settings: Settings, sources_yaml: Path | None = None) -> IngestReport:
    """Ingest every source of ``sources_yaml`` (default ``<home>/sources/sources.yaml``)."""
    sources_yaml = Path(sources_yaml or settings.sources_dir / "sources.yaml")
    specs = load_sources(sources_yaml)
    contracts = load_contracts()
    specs.sort(key=lambda s: (FIRST.index(s.table) if s.table in FIRST else len(FIRST)))
    present = {s.table for s in specs}
    report = IngestReport(sources_yaml=str(sources_yaml))
    writer = StagedWriter()
    con = _connect()
    try:
        for spec in specs:   # every schema is checked before any table is processed
            stage(con, spec, open_source(con, spec), contracts[spec.table])
        for spec in specs:
            report.tables[spec.table] = _process(con, spec, contracts[spec.table], present,
                                                 writer, settings)
        if "accounts" in present:
            _hierarchy(con, writer, settings)
        report.outputs = {str(p.relative_to(settings.home)): str(p) for p in writer.targets}
        writer.json(report.to_dict(), settings.quarantine_dir / "report.json")
        writer.commit()
    finally:
        writer.discard()
        con.close()
    return report
