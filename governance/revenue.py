"""Revenue reconciliation: revenue per segment must add up to the total of the finance
table the campaign names (billing, orders, a ledger) over the period, within a relative
tolerance. Segment revenue comes from the same table or another one (``segments``: orders
net of refunds against invoices, say); amounts are in the project's base currency.

Per-account differences are reported too, so an invoice missing from orders is named, not
only seen as a difference in the totals. Which tables and columns is the campaign's
decision (``controls.revenue``, ``segflow.governance.revenue_config``); so is switching the
control off, with a reason every report shows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from segflow.governance.store import deciding_rows


def _src(path) -> str:
    """A canonical table with its incremental loads (``segflow.canonical``)."""
    from segflow.canonical import source

    return source(path)


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _period_table(con, name: str, source, path, lo: str, hi: str, hierarchy) -> None:
    """The period's rows of ``source`` as temp table ``name`` (entity_id, revenue): the
    project's filter first, then ids rolled up to their top account where the ingest built
    an account hierarchy (B2B: invoices go to child accounts, tiers to the top parent)."""
    where = f" AND ({source.where})" if source.where else ""
    rows = (f"SELECT * FROM {_src(path)} WHERE {_q(source.date)} >= {lo} AND "
            f"{_q(source.date)} < {hi}{where}")
    owner, join = f"s.{_q(source.id)}", ""
    if hierarchy is not None:
        owner = f"coalesce(h.top_account_id, s.{_q(source.id)})"
        join = f"LEFT JOIN {_src(hierarchy)} h ON h.account_id = s.{_q(source.id)}"
    # money summed as DECIMAL(38, 6), exactly, in any order: a sum of doubles depends on
    # the order of addition, which differs between engines and partitions
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {name} AS SELECT CAST({owner} AS VARCHAR)
        AS entity_id, CAST(s.{_q(source.amount)} AS DECIMAL(38, 6)) AS revenue
        FROM ({rows}) s {join}""")


def switched_off(reason: str):
    """The result of a revenue control the campaign switched off: it blocks nothing and
    carries its reason into every report, status and audit entry that lists controls."""
    from segflow.governance.controls import ControlResult

    return ControlResult("revenue_reconciles", True, {"switched_off": reason},
                         f"switched off by the campaign: {reason}", severity="off")


def revenue_reconciles(con, canonical: dict, as_of: datetime, control, currency: str):
    """Compare attributed revenue per cohort with the finance total over
    [as_of - period_days, as_of); ``control`` is the campaign's ``RevenueControl``."""
    from segflow.governance.controls import ControlResult

    if control.switched_off:
        return switched_off(control.switched_off)
    start = as_of - timedelta(days=control.period_days)
    missing = [t for t in control.tables if t not in canonical]
    if missing:
        return ControlResult("revenue_reconciles", False, {"missing_tables": missing},
                             f"cannot reconcile: table(s) {', '.join(missing)} not ingested "
                             "(segflow ingest loads them)")
    lo, hi = (f"TIMESTAMPTZ '{t.isoformat()}'" for t in (start, as_of))
    # The period's rows are kept as temp tables: four queries read them, and re-reading the
    # Parquet each time cost a scan of every order and invoice per query.
    hierarchy = canonical.get("account_hierarchy")
    finance, segments = control.finance, control.attributed
    _period_table(con, "finance_p", finance, canonical[finance.table], lo, hi, hierarchy)
    if segments == finance:
        con.execute("CREATE OR REPLACE TEMP TABLE revenue_p AS SELECT * FROM finance_p")
    else:
        _period_table(con, "revenue_p", segments, canonical[segments.table], lo, hi,
                      hierarchy)
    rows = con.execute(f"""SELECT coalesce(m.cohort, '(' || m.status || ')') AS segment,
          sum(r.revenue) FROM revenue_p r JOIN ({deciding_rows("m_cur")}) m USING (entity_id)
        GROUP BY 1 ORDER BY 1""").fetchall()
    per_segment = {s: round(float(v or 0), 2) for s, v in rows}
    attributed = sum(per_segment.values())
    total = float(con.execute("SELECT coalesce(sum(revenue), 0) FROM finance_p"
                              ).fetchone()[0])
    unattributed = float(con.execute("""SELECT coalesce(sum(revenue), 0) FROM revenue_p
        ANTI JOIN m_cur USING (entity_id)""").fetchone()[0])
    # per entity: finance's figure against what the segments were given (nothing for an
    # entity outside the campaign's population)
    accounts = con.execute("""SELECT entity_id, coalesce(b, 0), coalesce(r, 0)
        FROM (SELECT entity_id, sum(revenue) b FROM finance_p GROUP BY 1)
        FULL OUTER JOIN (SELECT entity_id, sum(revenue) r FROM revenue_p SEMI JOIN m_cur
                         USING (entity_id) GROUP BY 1)
        USING (entity_id) WHERE abs(coalesce(b, 0) - coalesce(r, 0)) > 0.005
        ORDER BY abs(coalesce(b, 0) - coalesce(r, 0)) DESC, entity_id LIMIT 10""").fetchall()
    accounts = [(a, round(float(b), 2), round(float(r), 2)) for a, b, r in accounts]
    diff = attributed - total
    rel = abs(diff) / abs(total) if total else (0.0 if not attributed else float("inf"))
    tolerance = control.tolerance
    passed = rel <= tolerance
    figures = {"period_start": start.isoformat(), "period_end": as_of.isoformat(),
               "finance_table": finance.table, "segments_table": segments.table,
               "currency": currency, "per_segment": per_segment,
               "attributed": round(attributed, 2), "finance_total": round(total, 2),
               "unattributed": round(unattributed, 2),
               "difference": round(diff, 2), "relative_difference": rel,
               "tolerance": tolerance,
               "mismatched_accounts": [{"id": a, "finance": b, "segments": r}
                                       for a, b, r in accounts]}
    where = "; largest gaps: " + ", ".join(
        f"{a} {b:,.2f} in {finance.table} vs {r:,.2f} in segments" for a, b, r in accounts[:3]
    ) if accounts else ""
    message = (f"segment revenue ({segments.table}) {attributed:,.2f} {currency} vs "
               f"{finance.table} {total:,.2f} {currency}: "
               f"difference {diff:,.2f} ({rel:.4%}, tolerance {tolerance:.4%})"
               + ("" if passed else where))
    return ControlResult("revenue_reconciles", passed, figures, message)
