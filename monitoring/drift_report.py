"""Writes a drift result: Parquet tables, ``drift.json`` (read by the gate and the tests) and
``report.html`` (one self-contained page; Evidently's own pages sit beside it)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from segflow.monitoring.html import write_page


def _drift_block(table: pd.DataFrame | None, kind: str) -> dict:
    rows = table[table["type"] == kind] if table is not None else pd.DataFrame()
    drifted = sorted(rows.loc[rows["drifted"], "feature"]) if len(rows) else []
    return {"n": int(len(rows)), "drifted": drifted,
            "drifted_share": len(drifted) / len(rows) if len(rows) else 0.0}


def affected_cohorts(tables: dict) -> dict[str, list[str]]:
    """Cohort -> the plain-English reasons it was flagged."""
    reasons: dict[str, list[str]] = {}
    shares = tables.get("composition")
    if shares is not None:
        for row in shares[shares["affected"]].itertuples():
            reasons.setdefault(row.cohort, []).append(
                f"share {row.share_reference:.2%} -> {row.share_current:.2%}")
    mix = tables.get("cohort_mix")
    if mix is not None:
        for row in mix[mix["affected"]].itertuples():
            reasons.setdefault(row.cohort, []).append(
                f"{row.attribute} mix PSI {row.psi:.2f} (bucket {row.top_bucket}: "
                f"{row.share_reference:.0%} -> {row.share_current:.0%})")
    return reasons


def empty_cohorts(tables: dict) -> dict[str, str]:
    """Cohorts with no members on one side: emptied since the reference, or new."""
    shares = tables.get("composition")
    if shares is None or "empty" not in shares:
        return {}
    return {row.cohort: (f"emptied: {row.n_reference:,} members in the reference, none now"
                         if row.n_current == 0 else
                         f"new: {row.n_current:,} members now, none in the reference")
            for row in shares[shares["empty"]].itertuples()}


def write_report(out: Path, summary: dict, tables: dict) -> dict:
    summary["features"] = _drift_block(tables.get("summary"), "feature")
    summary["scores"] = _drift_block(tables.get("summary"), "score")
    summary["affected_cohorts"] = affected_cohorts(tables)
    summary["empty_cohorts"] = empty_cohorts(tables)
    bias = tables.get("bias")
    summary["bias_flags"] = ([] if bias is None or bias.empty else
                             bias.loc[bias["flagged"].astype(bool)].drop(columns="flagged")
                             .to_dict("records"))
    for name in ("summary", "composition", "cohort_mix", "bias"):
        if tables.get(name) is not None:
            tables[name].to_parquet(out / f"{name}.parquet", index=False)
    summary["summary_table"] = (tables["summary"].to_dict("records")
                                if tables.get("summary") is not None else [])
    (out / "drift.json").write_text(json.dumps(summary, indent=1, default=str),
                                    encoding="utf-8")
    _write_html(out, summary, tables)
    return summary


def _write_html(out: Path, summary: dict, tables: dict) -> None:
    sample = summary.get("sample")
    note = summary.get("note") or (
        f"Compared with {summary['reference']}. Evidently saw a hash sample "
        f"(seed {sample['seed']}): {sample['current']['rows']} of {sample['current']['of']} "
        f"current rows and {sample['reference']['rows']} of {sample['reference']['of']} "
        "reference rows; shares, PSI and bias use every row. Per-column detail: "
        "features.html, scores.html.")
    affected = pd.DataFrame([{"cohort": c, "reasons": "; ".join(r)}
                             for c, r in summary["affected_cohorts"].items()])
    excluded = pd.DataFrame([{"column": c, "why it was not tested": why}
                             for c, why in (summary.get("excluded_columns") or {}).items()])
    empty = pd.DataFrame([{"cohort": c, "members": why}
                          for c, why in summary.get("empty_cohorts", {}).items()])
    sections = [("Inputs", note), ("Features and scores", tables.get("summary")),
                ("Columns not tested", excluded), ("Empty cohorts", empty),
                ("Affected cohorts", affected), ("Cohort shares", tables.get("composition")),
                ("Mix inside cohorts (PSI)", tables.get("cohort_mix")),
                ("Bias: composition against the eligible population", tables.get("bias"))]
    write_page(out / "report.html", f"Drift report: {summary['run_id']}",
               [(h, b) for h, b in sections if b is not None and not
                (isinstance(b, pd.DataFrame) and b.empty and h != "Affected cohorts")])
