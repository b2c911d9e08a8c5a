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


def write_report(out: Path, summary: dict, tables: dict, settings) -> dict:
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
    _write_html(out, summary, tables, settings=settings)
    return summary


def verdict_of(gate: dict | None) -> tuple[str | None, bool | None, str | None]:
    """The drift gate's verdict for the banner: (headline, passed, note)."""
    if gate is None:
        return None, None, None
    if gate.get("error"):
        return "Drift check crashed: the run is blocked", False, gate["error"]
    listed = gate.get("reasons") or []
    reasons = "; ".join(listed[:2]) + (f"; and {len(listed) - 2} more (below)"
                                       if len(listed) > 2 else "")
    if gate.get("passed"):
        return "Drift gate passed", True, "Nothing drifted beyond the campaign's thresholds."
    ack = gate.get("acknowledged")
    if ack:
        return (f"Drift breached, acknowledged by {ack['by']}", True,
                f"{reasons}. Accepted: {ack['reason']}")
    return ("Drift gate breached: publication waits for an approver's acknowledgement",
            False, reasons)


def _overview(summary: dict, fmt) -> list[tuple[str, str, str]]:
    """Tiles: N of M features drifted, N of M scores, cohorts affected."""
    tiles = []
    for kind in ("features", "scores"):
        block = summary.get(kind) or {}
        if block.get("n"):
            tiles.append((f"{kind} drifted", f"{len(block['drifted'])} of {block['n']}",
                          fmt.pct(block["drifted_share"]) + " of them"))
    tiles.append(("cohorts affected", fmt.count(len(summary.get("affected_cohorts") or {})),
                  "share or mix moved"))
    return tiles


def rewrite_page(out: Path, gate: dict, settings) -> None:
    """Render ``report.html`` again with the gate's verdict (after a check, an error or an
    acknowledgement); the figures are read back from ``drift.json`` and the Parquet."""
    path = out / "drift.json"
    if not path.exists():
        return
    summary = json.loads(path.read_text(encoding="utf-8"))
    tables = {name: pd.read_parquet(out / f"{name}.parquet") for name in
              ("summary", "composition", "cohort_mix", "bias")
              if (out / f"{name}.parquet").exists()}
    _write_html(out, summary, tables, gate, settings=settings)


def _write_html(out: Path, summary: dict, tables: dict, gate: dict | None = None, *,
                settings) -> None:
    """The page, money and counts formatted in the project's currency and its readers'
    digit grouping (``settings``: the workspace's, whose project names them)."""
    from segflow.pages.fmt import Formatter, currency_of

    sample = summary.get("sample")
    note = summary.get("note") or (
        f"Compared with {summary['reference']}. Evidently saw a hash sample "
        f"(seed {sample['seed']}): {sample['current']['rows']} of {sample['current']['of']} "
        f"current rows and {sample['reference']['rows']} of {sample['reference']['of']} "
        "reference rows; "
        + (f"{sample['note']} (the executors took it)." if sample.get("note") else
           "shares, PSI and bias use every row.")
        + " Per-column detail: features.html, scores.html.")
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
    headline, passed, note = verdict_of(gate)
    write_page(out / "report.html", f"Drift report: {summary['run_id']}",
               [(h, b) for h, b in sections if b is not None and not
                (isinstance(b, pd.DataFrame) and b.empty and h != "Affected cohorts")],
               verdict=headline, passed=passed, verdict_note=note,
               kpis=_overview(summary, Formatter(currency_of(settings))), settings=settings,
               nav=[("Campaigns", "../../../index.html"), ("Refresh report", "../report.html"),
                    ("Movement", "../movement.html")])
