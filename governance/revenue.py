"""Revenue reconciliation: revenue per segment, from orders (net of refunds) or billing,
must add up to the billing total of the period within a relative tolerance.

Per-account differences are reported too, so a billing row missing from orders is named,
not only seen as a difference in the totals.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def _src(path) -> str:
    return "read_parquet('" + str(path).replace("'", "''") + "')"


def revenue_reconciles(con, canonical: dict, as_of: datetime, days: int, tolerance: float,
                       source: str = "orders"):
    """Compare attributed revenue per cohort with billing over [as_of - days, as_of)."""
    from segflow.governance.controls import ControlResult

    start = as_of - timedelta(days=days)
    missing = [t for t in ("billing", source) if t not in canonical]
    if missing:
        return ControlResult("revenue_reconciles", False, {"missing_tables": missing},
                             f"cannot reconcile: canonical table(s) {', '.join(missing)} "
                             "missing")
    lo, hi = (f"TIMESTAMPTZ '{t.isoformat()}'" for t in (start, as_of))
    # The period's rows are kept as temp tables: four queries read them, and re-reading the
    # Parquet each time cost a scan of every order and invoice per query.
    # B2B: invoices are raised on child accounts, tiers are decided on their top parent
    owner, join = "b.account_id", ""
    if "account_hierarchy" in canonical:
        owner = "coalesce(h.top_account_id, b.account_id)"
        join = (f"LEFT JOIN {_src(canonical['account_hierarchy'])} h "
                "ON h.account_id = b.account_id")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE billing_p AS SELECT {owner} AS entity_id,
        b.revenue FROM {_src(canonical['billing'])} b {join}
        WHERE b.invoice_date >= {lo} AND b.invoice_date < {hi}""")
    if source == "orders":
        con.execute(f"""CREATE OR REPLACE TEMP TABLE revenue_p AS SELECT customer_id AS
            entity_id, amount_inr AS revenue FROM {_src(canonical['orders'])}
            WHERE status = 'completed' AND order_ts >= {lo} AND order_ts < {hi}""")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE revenue_p AS SELECT * FROM billing_p")
    rows = con.execute("""SELECT coalesce(m.cohort, '(' || m.status || ')') AS segment,
          sum(r.revenue) FROM revenue_p r JOIN (SELECT DISTINCT ON (entity_id) * FROM m_cur
          ORDER BY entity_id, priority NULLS LAST) m USING (entity_id)
        GROUP BY 1 ORDER BY 1""").fetchall()
    per_segment = {s: round(v or 0.0, 2) for s, v in rows}
    attributed = sum(per_segment.values())
    billing = con.execute("SELECT coalesce(sum(revenue), 0) FROM billing_p").fetchone()[0]
    unattributed = con.execute("""SELECT coalesce(sum(revenue), 0) FROM revenue_p
        ANTI JOIN m_cur USING (entity_id)""").fetchone()[0]
    accounts = con.execute("""SELECT entity_id, round(coalesce(b, 0), 2), round(coalesce(r, 0),
          2) FROM (SELECT entity_id, sum(revenue) b FROM billing_p GROUP BY 1)
        FULL OUTER JOIN (SELECT entity_id, sum(revenue) r FROM revenue_p GROUP BY 1)
        USING (entity_id) WHERE abs(coalesce(b, 0) - coalesce(r, 0)) > 0.005
        ORDER BY abs(coalesce(b, 0) - coalesce(r, 0)) DESC, entity_id LIMIT 10""").fetchall()
    diff = attributed - billing
    rel = abs(diff) / abs(billing) if billing else (0.0 if not attributed else float("inf"))
    passed = rel <= tolerance
    figures = {"period_start": start.isoformat(), "period_end": as_of.isoformat(),
               "source": source, "per_segment": per_segment, "attributed": round(attributed, 2),
               "billing_total": round(billing, 2), "unattributed": round(unattributed, 2),
               "difference": round(diff, 2), "relative_difference": rel,
               "tolerance": tolerance,
               "mismatched_accounts": [{"id": a, "billing": b, "segments": r}
                                       for a, b, r in accounts]}
    where = "; largest gaps: " + ", ".join(
        f"{a} billed {b:,.2f} vs {r:,.2f}" for a, b, r in accounts[:3]) if accounts else ""
    message = (f"segment revenue {attributed:,.2f} INR vs billing {billing:,.2f} INR: "
               f"difference {diff:,.2f} ({rel:.4%}, tolerance {tolerance:.4%})"
               + ("" if passed else where))
    return ControlResult("revenue_reconciles", passed, figures, message)
