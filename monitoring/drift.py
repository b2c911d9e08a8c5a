"""Drift of one run against its reference: features and scores (Evidently, on a stated
sample), cohort composition and bias (DuckDB, on the full data).

Evidently's per-column tests cost time in proportion to rows, so they see a deterministic
hash sample of ``drift.sample_size`` rows per side (the same customers on both sides when
they exist in both); shares, PSI and bias are cheap aggregates and use every row.
Outputs go to ``runs/<run_id>/drift/``; ``drift.json`` is what the gate and tests read.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from segflow.engines import SPARK
from segflow.monitoring import composition, evidently_reports
from segflow.monitoring.bias import bias_table
from segflow.monitoring.config import MonitoringConfig
from segflow.monitoring.drift_report import write_report
from segflow.monitoring.reference import Side, resolve_reference, run_side
from segflow.runstore import run_dir
from segflow.settings import Settings
from segflow.yamlio import load_yaml

ID_COLUMNS = ("entity_id", "customer_id", "account_id")
MAX_CATEGORIES = 50


def drift_dir(settings: Settings, run_id: str) -> Path:
    return run_dir(settings, run_id) / "drift"


def model_score_columns(settings: Settings) -> list[str]:
    """Score columns the models add (their ``outputs``), from training/models/*.yaml."""
    names: list[str] = []
    for path in sorted(settings.models_config_dir.glob("*.yaml")):
        doc = load_yaml(path) or {}
        for out in (doc.get("outputs") or []) if isinstance(doc, dict) else []:
            name = out.get("name") if isinstance(out, dict) else out
            if isinstance(name, str):
                names.append(name)
    return names


def _open(con, side: Side, prefix: str) -> None:
    """Views ``<prefix>_f`` (features, keyed entity_id) and ``<prefix>_m`` (memberships)."""
    from segflow.scoring.runfiles import parquet_sql

    cols = [r[0] for r in con.execute(
        f"DESCRIBE SELECT * FROM {parquet_sql(side.features)}").fetchall()]
    key = next((c for c in ID_COLUMNS if c in cols), None)
    if key is None:
        from segflow.errors import SegflowError
        raise SegflowError(f"{side.features}: no entity id column (one of {ID_COLUMNS})")
    select = "*" if key == "entity_id" else f"* EXCLUDE ({key}), {key} AS entity_id"
    con.execute(f"CREATE VIEW {prefix}_f AS SELECT {select} "
                f"FROM {parquet_sql(side.features)}")
    if side.memberships is not None:
        con.execute(f"CREATE VIEW {prefix}_m AS SELECT * "
                    f"FROM {parquet_sql(side.memberships)}")


def classify_columns(con, skip: set[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """(numerical, categorical, types) of the columns both sides share, in current order.

    Timestamps and identifiers are skipped; booleans count as numerical (0/1); text columns
    with more than MAX_CATEGORIES values (names, cities) are skipped as not comparable.
    """
    ref_cols = {r[0] for r in con.execute("DESCRIBE ref_f").fetchall()}
    numerical, categorical, types = [], [], {}
    for name, dtype, *_ in con.execute("DESCRIBE cur_f").fetchall():
        if name in skip or name not in ref_cols or "TIME" in dtype or dtype == "DATE":
            continue
        types[name] = dtype
        if dtype == "VARCHAR":
            distinct = con.execute(f'SELECT approx_count_distinct("{name}") FROM cur_f')
            if distinct.fetchone()[0] <= MAX_CATEGORIES:
                categorical.append(name)
        elif dtype == "BOOLEAN" or any(t in dtype for t in ("INT", "DOUBLE", "FLOAT", "DEC")):
            numerical.append(name)
    return numerical, categorical, types


def sample(con, prefix: str, columns: list[str], types: dict, size: int, seed: int):
    """A deterministic hash sample of ``size`` rows, and the row count it was drawn from."""
    total = con.execute(f"SELECT count(*) FROM {prefix}_f").fetchone()[0]
    exprs = [f'CAST("{c}" AS INTEGER) AS "{c}"' if types[c] == "BOOLEAN" else f'"{c}"'
             for c in columns]
    frame = con.execute(f"SELECT {', '.join(exprs) or '1 AS one'} FROM {prefix}_f "
                        f"ORDER BY hash(entity_id, {int(seed)}) LIMIT {int(size)}").df()
    return frame, total


def untestable(cur: pd.DataFrame, ref: pd.DataFrame, columns: list[str]) -> dict:
    """Columns Evidently cannot or need not test, with why and whether that is itself a
    drift: no rows on a side, all null on a side (Evidently raises "An empty column ... was
    provided"), or one and the same value on both sides. A column empty on one side only is
    a drift (a feature vanished or appeared); empty or identical on both is not."""
    out: dict[str, tuple[str, bool]] = {}
    if cur.empty or ref.empty:
        side = "current run" if cur.empty else "reference"
        return {c: (f"the {side} has no rows", True) for c in columns}
    for c in columns:
        cur_null, ref_null = cur[c].isna().all(), ref[c].isna().all()
        if cur_null or ref_null:
            where = ("both sides" if cur_null and ref_null else
                     "the current run" if cur_null else "the reference")
            out[c] = (f"all values are null in {where}", cur_null != ref_null)
            continue
        values = set(cur[c].dropna().unique()) | set(ref[c].dropna().unique())
        if len(values) == 1:
            out[c] = ("constant: one and the same value on both sides", False)
    return out


def run_drift(settings: Settings, run_id: str, config: MonitoringConfig,
              reference: str | None = None) -> dict:
    """Compute every drift view of ``run_id``, write them under its drift/ folder, and
    return the summary (also written as ``drift.json``)."""
    import duckdb

    cfg = config.drift
    out = drift_dir(settings, run_id)
    out.mkdir(parents=True, exist_ok=True)
    current = run_side(settings, run_id)
    ref = resolve_reference(settings, run_id, reference or cfg.reference, cfg.training_snapshot)
    summary = {"run_id": run_id, "reference": ref.label if ref else None,
               "thresholds": asdict(cfg), "bias_thresholds": asdict(config.bias)}
    if ref is None:
        summary["note"] = "no earlier run of this campaign: nothing to compare with"
        return write_report(out, summary, {}, settings)
    if settings.engine == SPARK:  # each side cut to a bounded sample by the executors
        from segflow.monitoring.drift_spark import sampled_sides

        current, ref = sampled_sides(settings, current, ref, cfg.sample_size, cfg.seed,
                                     out / "sample")
    con = duckdb.connect()
    try:
        _open(con, current, "cur")
        _open(con, ref, "ref")
        tables = _column_drift(settings, con, cfg, out, summary, (current.rows, ref.rows))
        if current.memberships is not None and ref.memberships is not None:
            tables.update(_composition(con, cfg, tables["types"]))
        if current.memberships is not None:
            tables["bias"] = bias_table(con, config.bias, set(tables["types"]),
                                        cfg.min_cohort_size)
    finally:
        con.close()
    return write_report(out, summary, tables, settings)


def _column_drift(settings, con, cfg, out: Path, summary: dict,
                  totals: tuple[int | None, int | None] = (None, None)) -> dict:
    """Evidently's tests per column on each side's sample; ``totals``: each side's full
    row count when its files are already a sample (a Spark run's, drift_spark)."""
    scores = cfg.scores if cfg.scores is not None else model_score_columns(settings)
    numerical, categorical, types = classify_columns(con, {"entity_id", "event_timestamp"})
    if cfg.features is not None:
        keep = set(cfg.features) | set(scores)
        numerical = [c for c in numerical if c in keep]
        categorical = [c for c in categorical if c in keep]
    columns = [*numerical, *categorical]
    cur, n_cur = sample(con, "cur", columns, types, cfg.sample_size, cfg.seed)
    ref, n_ref = sample(con, "ref", columns, types, cfg.sample_size, cfg.seed)
    n_cur, n_ref = totals[0] or n_cur, totals[1] or n_ref
    untested = untestable(cur, ref, columns)
    summary["excluded_columns"] = {c: why for c, (why, _) in untested.items()}
    numerical = [c for c in numerical if c not in untested]
    categorical = [c for c in categorical if c not in untested]
    summary["sample"] = {"size": cfg.sample_size, "seed": cfg.seed,
                         "current": {"rows": len(cur), "of": n_cur},
                         "reference": {"rows": len(ref), "of": n_ref},
                         "sampled": len(cur) < n_cur or len(ref) < n_ref,
                         **({"engine": "spark", "customers": cfg.sample_size,
                             "note": f"on Spark every drift view (composition and bias too) is "
                                     f"computed on a hash sample of at most "
                                     f"{cfg.sample_size:,d} customers per side"}
                            if totals != (None, None) else {})}
    meta = {"run_id": summary["run_id"], "reference": summary["reference"],
            "sampled_current": f"{len(cur)} of {n_cur}",
            "sampled_reference": f"{len(ref)} of {n_ref}", "seed": cfg.seed}
    parts = []
    for kind, keep in (("feature", lambda c: c not in scores), ("score", lambda c: c in scores)):
        num, cat = [c for c in numerical if keep(c)], [c for c in categorical if keep(c)]
        table = evidently_reports.column_drift(
            cur, ref, num, cat, out / f"{kind}s", method=cfg.method, threshold=cfg.threshold,
            metadata={**meta, "kind": kind})
        parts.append(table.assign(type=kind))
    parts.append(pd.DataFrame([
        {"column": c, "drifted": drifted, "statistic": float("nan"), "threshold": None,
         "method": f"not tested: {why}", "kind": "numerical" if types[c] != "VARCHAR" else
         "categorical", "type": "score" if c in scores else "feature"}
        for c, (why, drifted) in untested.items()]))
    table = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True).rename(
        columns={"column": "feature"})
    table["drifted"] = table["drifted"].astype(bool)
    return {"summary": table[["feature", "type", "kind", "drifted", "statistic", "threshold",
                              "method"]], "types": types}


def _numeric(duck_type: str) -> bool:
    return duck_type.startswith(("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                                 "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT",
                                 "DOUBLE", "DECIMAL", "REAL"))


def _composition(con, cfg, types: dict) -> dict:
    shares = composition.share_shift(con)
    shares["empty"] = (shares["n_current"] == 0) | (shares["n_reference"] == 0)
    attrs = {a: False for a in cfg.mix_attributes or [] if a in types}
    # a key feature is bucketed by value when numeric, else its categories are compared (the
    # default key features are every column the campaign's rules read, strings included)
    attrs.update({f: _numeric(types[f]) for f in cfg.key_features or [] if f in types})
    mix = composition.mix_shift(con, attrs)
    shares["affected"] = shares["share_shift"].abs() > cfg.max_composition_shift
    big = cfg.min_cohort_size
    mix["affected"] = ((mix["psi"] > cfg.max_cohort_psi) & (mix["n_reference"] >= big)
                       & (mix["n_current"] >= big) & (mix["cohort"] != composition.ALL))
    return {"composition": shares, "cohort_mix": mix}
