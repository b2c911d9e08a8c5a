"""Controls run before publication: one small function per control.

Each returns a ``ControlResult`` (name, passed, figures, message, severity). ``block``
controls stop publication outright (the data is wrong); ``review`` controls stop it until
someone approves the run with a reason (the data may be right but is surprising).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["ControlResult", "accounted_once", "contracts_hold", "sizes_within_bounds",
           "no_sudden_change"]  # revenue_reconciles lives in segflow.governance.revenue


@dataclass
class ControlResult:
    name: str
    passed: bool
    figures: dict = field(default_factory=dict)
    message: str = ""
    severity: str = "block"  # block | review

    def to_dict(self) -> dict:
        return asdict(self)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def contracts_hold(con, canonical: dict, contracts: dict, recheck: bool = False
                   ) -> ControlResult:
    """Canonical tables match their ingest contracts: columns and types always; keys, nulls
    and allowed values by one pass over each table, unless ingest's receipt proves the file
    unchanged since it checked every row (``segflow.receipts``; ``recheck`` forces the pass).
    """
    import pyarrow.parquet as pq

    from segflow.receipts import proved

    problems: list[str] = []
    by_receipt: list[str] = []
    for table, path in sorted(canonical.items()):
        contract = contracts.get(table)
        if contract is None:
            continue
        schema = pq.read_schema(path)
        problems += _schema_problems(table, schema, contract)
        if not recheck and proved(Path(path).parent, table, path):
            by_receipt.append(table)
            continue
        problems += _row_problems(con, table, path, schema, contract)
    return ControlResult(
        "contracts_hold", not problems, {"tables": sorted(canonical), "problems": problems,
                                         "rows_proved_at_ingest": by_receipt},
        "canonical tables conform to their contracts" if not problems else
        "canonical tables break their contracts: " + "; ".join(problems[:5]))


def _schema_problems(table: str, schema, contract) -> list[str]:
    problems = []
    for want in contract.arrow_schema():
        if want.name not in schema.names:
            if not contract.column(want.name).optional:
                problems.append(f"{table}.{want.name} missing")
        elif schema.field(want.name).type != want.type:
            problems.append(f"{table}.{want.name} is {schema.field(want.name).type}, "
                            f"contract says {want.type}")
    return problems


def _row_problems(con, table: str, path, schema, contract) -> list[str]:
    """Duplicate keys, nulls and values outside the allowed list, in one scan of the file."""
    keys = ", ".join(_q(k) for k in contract.key)
    checks = [(f"count(*) - count(DISTINCT ({keys}))",
               f"duplicate key(s) on {', '.join(contract.key)}", table)]
    for col in contract.columns:
        if col.name not in schema.names:
            continue
        if not col.nullable and not col.identifier:
            checks.append((f"count(*) FILTER (WHERE {_q(col.name)} IS NULL)", "null value(s)",
                           f"{table}.{col.name}"))
        if col.allowed:
            vals = ", ".join("'" + v.replace("'", "''") + "'" for v in col.allowed)
            checks.append((f"count(*) FILTER (WHERE {_q(col.name)} NOT IN ({vals}))",
                           "not allowed value(s)", f"{table}.{col.name}"))
    from segflow.canonical import source

    src = source(path)   # the base and its incremental loads: every row the table holds
    counts = con.execute(f"SELECT {', '.join(c for c, _, _ in checks)} FROM {src}").fetchone()
    return [f"{where}: {n} {what}" for (_, what, where), n in zip(checks, counts, strict=True)
            if n]


def accounted_once(con, exclusive: bool) -> ControlResult:
    """Every entity of the feature frame has exactly one decision (exclusive campaigns)."""
    f = con.execute("""SELECT
        (SELECT count(DISTINCT entity_id) FROM f_cur),
        (SELECT count(*) FROM (SELECT DISTINCT entity_id FROM f_cur)
           ANTI JOIN m_cur USING (entity_id)),
        (SELECT count(*) FROM (SELECT DISTINCT entity_id FROM m_cur)
           ANTI JOIN f_cur USING (entity_id)),
        (SELECT count(*) FROM (SELECT entity_id FROM m_cur GROUP BY entity_id
           HAVING count(*) > 1)),
        (SELECT count(*) FROM m_cur WHERE status NOT IN
           ('assigned', 'holdout', 'suppressed', 'unassigned') OR status IS NULL)""").fetchone()
    population, missing, extra, duplicated, bad_status = f
    by_status = dict(con.execute("SELECT status, count(*) FROM m_cur GROUP BY 1 ORDER BY 1"
                                 ).fetchall())
    figures = {"population": population, "missing": missing, "extra": extra,
               "duplicated": duplicated if exclusive else 0, "bad_status": bad_status,
               "by_status": by_status}
    if not exclusive:
        duplicated = 0
    passed = not (missing or extra or duplicated or bad_status)
    message = (f"all {population:,} entities accounted for exactly once" if passed else
               f"{missing:,} missing, {extra:,} not in the population, {duplicated:,} "
               f"duplicated, {bad_status:,} with an unknown status")
    return ControlResult("accounted_once", passed, figures, message)


def sizes_within_bounds(con, bounds: dict[str, tuple[int, int]]) -> ControlResult:
    """Cohort sizes (assigned + holdout) inside the campaign's expected_size per cohort."""
    sizes = dict(con.execute("""SELECT split_part(cohort, '__', 1), count(*) FROM m_cur
        WHERE status IN ('assigned', 'holdout') GROUP BY 1""").fetchall())
    out = {name: {"size": sizes.get(name, 0), "min": lo, "max": hi}
           for name, (lo, hi) in sorted(bounds.items())}
    bad = [f"{n} has {v['size']:,} (expected {v['min']:,}..{v['max']:,})"
           for n, v in out.items() if not v["min"] <= v["size"] <= v["max"]]
    return ControlResult("sizes_within_bounds", not bad, {"cohorts": out},
                         "; ".join(bad) if bad else "cohort sizes within expected bounds",
                         severity="review")


def no_sudden_change(con, has_previous: bool, max_growth: float) -> ControlResult:
    """No cohort emptied or grown more than ``max_growth`` times since the publication."""
    if not has_previous:
        return ControlResult("no_sudden_change", True, {}, "first publication: nothing to "
                             "compare with", severity="review")
    rows = con.execute("""WITH p AS (SELECT cohort, count(*) n FROM m_prev
          WHERE status IN ('assigned', 'holdout') GROUP BY 1),
        c AS (SELECT cohort, count(*) n FROM m_cur
          WHERE status IN ('assigned', 'holdout') GROUP BY 1)
        SELECT coalesce(p.cohort, c.cohort), coalesce(p.n, 0), coalesce(c.n, 0)
        FROM p FULL OUTER JOIN c USING (cohort) ORDER BY 1""").fetchall()
    figures = {c: {"before": b, "after": a} for c, b, a in rows}
    bad = [f"{c} emptied ({b:,} -> 0)" if a == 0 else f"{c} grew {a / b:.1f}x ({b:,} -> {a:,})"
           for c, b, a in rows if b > 0 and (a == 0 or a > max_growth * b)]
    return ControlResult("no_sudden_change", not bad, figures,
                         "; ".join(bad) + " (needs review and approval)" if bad else
                         "no cohort emptied or more than doubled", severity="review")


def save_results(con, run_id: str, results: list[ControlResult]) -> None:
    """Replace this run's rows in DuckDB ``control_results``."""
    con.execute("DELETE FROM control_results WHERE run_id = ?", [run_id])
    con.executemany("INSERT INTO control_results VALUES (?, ?, ?, ?, ?, ?, now())", [
        (run_id, r.name, r.passed, r.severity, json.dumps(r.figures, default=str), r.message)
        for r in results])
