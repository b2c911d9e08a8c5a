"""Plain-text rendering of preview and explain results for the terminal."""

from __future__ import annotations

from segflow.scoring.preview import Preview


def preview_text(p: Preview, overlaps: int = 10) -> str:
    n = max(p.entities, 1)
    lines = [f"warning: {key} reads {column}, which is null for every one of the "
             f"{p.entities} entities: its rule cannot tell them apart (is a source or "
             "feature missing?)" for key, column in p.all_null]
    lines.append(f"campaign {p.campaign}: {p.entities} entities")
    lines += [f"  {s:<11}{p.status.get(s, 0):>10}  {100 * p.status.get(s, 0) / n:5.1f}%"
              for s in ("assigned", "holdout", "suppressed", "unassigned")]
    lines.append("suppressions (first matching rule per entity):")
    lines += [f"  {k:<28}{v:>10}" for k, v in p.suppressed_by.items()] or ["  none"]
    lines.append(f"cohorts{'':<34}{'matched':>9}{'assigned':>9}{'holdout':>9}{'suppr.':>9}")
    for r in p.cohorts:
        flag = f"  outside expected {list(r['expected'])}" if r["outside_expected"] else ""
        lines.append(f"  {r['priority'] or '':>3} {r['cohort'][:36]:<36}{r['matched'] or 0:>9}"
                     f"{r['assigned']:>9}{r['holdout']:>9}{r['suppressed']:>9}{flag}")
    if p.offers:
        lines.append("offers tested (treated customers per offer; share against the plan):")
        lines += offers_lines(p.offers)
    lines.append("clause funnels (entities passing clause 1, then 1 and 2, ...):")
    for key, steps in p.funnels.items():
        lines.append(f"  {key}")
        lines += [f"    {n:>9}  {text}" for text, n in steps]
    lines.append(f"largest overlaps between cohort rules (top {overlaps}):")
    lines += [f"  {n:>9}  {a} & {b}" for a, b, n in p.overlaps[:overlaps]] or ["  none"]
    if p.changes:
        lines.append("effect of --set (assigned + holdout):")
        lines += [f"  {c['cohort']:<36}{c['before']:>9} -> {c['after']:<9}"
                  f"({c['after'] - c['before']:+d})" for c in p.changes]
    return "\n".join(lines)


def offers_lines(rows: list[dict]) -> list[str]:
    """One line per experiment cohort: each offer's size and share, then any balance flag."""
    out = []
    for r in rows:
        parts = ", ".join(f"{name} {o['n']:,} ({o['share']:.1%} vs {o['expected_share']:.0%})"
                          for name, o in r["offers"].items())
        out.append(f"  {r['cohort'][:36]:<36} {parts}")
        out += [f"    BALANCE: {flag}" for flag in r["flags"]]
    return out


def explain_text(e: dict) -> str:
    lines = [f"{e['campaign']}: {e['entity_id']}"]
    lines += [f"  => {w}" for w in e["why"]]
    for title, items in (("cohorts", e["cohorts"]), ("suppressions", e["suppressions"])):
        lines.append(f"{title}:")
        for item in items:
            mark = "MATCH" if item["matched"] else "no"
            prio = f" (priority {item['priority']})" if item["priority"] is not None else ""
            lines.append(f"  [{mark}] {item['name']}{prio}")
            for c in item["clauses"]:
                values = ", ".join(f"{k}={_show(v)}" for k, v in c["values"].items())
                lines.append(f"      {'pass' if c['passed'] else 'FAIL'}  {c['text']}"
                             f"   [{values}]")
    for col, rows in e["contributions"].items():
        lines.append(f"top contributions to {col}:")
        lines += [f"  {r['feature']} = {_show(_number(r['value']))}: "
                  f"{r['contribution']:+.4f}" for r in rows] \
            or ["  (no champion model: nothing to show)"]
    return "\n".join(lines)


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def compare_text(c: dict) -> str:
    """The agreement first, then the confusion table (legacy rows x rules columns), then
    each shown disagreement with what decides it."""
    lg = c["legacy"]
    share = f"{c['agreement']:.1%}" if c["agreement"] is not None else "n/a"
    lines = [f"{c['campaign']}: the rules agree with {lg['path']} on {c['agree']:,} of "
             f"{c['compared']:,} {c['entity']}s ({share}); {c['disagree']:,} disagree",
             f"  legacy list: {lg['rows']:,} rows, id column '{lg['id_column']}', segment "
             f"column '{lg['segment_column']}'"]
    renamed = {k: v for k, v in lg["labels"].items() if k != v}
    if renamed:
        lines.append("  legacy segments read as cohorts: " + ", ".join(
            f"'{k}' = {v}" for k, v in renamed.items()))
    if lg["not_cohorts"]:
        lines.append("  legacy segments that are no cohort of the campaign: "
                     + ", ".join(f"'{x}'" for x in lg["not_cohorts"]))
    rows = sorted({x["legacy"] for x in c["confusion"]})
    cols = sorted({x["rules"] for x in c["confusion"]})
    cell = {(x["legacy"], x["rules"]): x["count"] for x in c["confusion"]}
    corner = "legacy \\ rules"
    first = max([len(corner), *map(len, rows)])
    widths = [max(len(col), 7) for col in cols]
    lines.append("")
    lines.append(f"{corner:<{first}}" + "".join(f"  {col:>{w}}" for col, w in
                                                         zip(cols, widths, strict=True)))
    for row in rows:
        lines.append(f"{row:<{first}}" + "".join(
            f"  {cell.get((row, col), 0) or '.':>{w}}" for col, w in
            zip(cols, widths, strict=True)))
    shown = c["disagreements"]
    if shown:
        more = f", the first {len(shown)}" if len(shown) < c["disagree"] else ""
        lines += ["", f"disagreements ({c['disagree']:,}{more}):"]
        for d in shown:
            where = f" (line {d['line']})" if d["line"] else ""
            lines.append(f"  {d['id']}{where}: legacy {d['legacy_as_written'] or d['legacy']}"
                         f", rules {d['rules']}")
            lines.append(f"      {d['why']}")
    return "\n".join(lines)
