"""Plain-text rendering of preview and explain results for the terminal."""

from __future__ import annotations

from segflow.scoring.preview import Preview


def preview_text(p: Preview, overlaps: int = 10) -> str:
    n = max(p.entities, 1)
    lines = [f"campaign {p.campaign}: {p.entities} entities"]
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
