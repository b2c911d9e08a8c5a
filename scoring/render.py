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


MISSES_SHOWN = 6  # other cohorts' nearest misses in the short form; --full has them all


def explain_text(e: dict, full: bool = False, fmt=None, meaning: dict | None = None) -> str:
    """``segflow explain`` for people: short by default (the status and why, the clauses
    that decided it, each other cohort's nearest miss, the model contributions), every
    cohort and suppression with every clause under ``full``. Values are formatted (money
    in the project's currency, where the feature's description says it is money)."""
    from segflow.pages.fmt import Formatter

    show = _Values(fmt or Formatter(), meaning or {})
    lines = [f"run {e['run_id']}"] if e.get("run_id") else []
    lines.append(f"{e['campaign']}: {e['entity_id']}")
    lines += [f"  => {w}" for w in e["why"]]
    lines += (_full_lines if full else _short_lines)(e, show)
    lines += _contribution_lines(e, show)
    if show.used:
        lines.append("what the values mean:")
        lines += [f"  {col}: {show.meaning[col]}" for col in sorted(show.used)]
    return "\n".join(lines)


def _short_lines(e: dict, show: _Values) -> list[str]:
    rows = e["memberships"]
    placed = {r["cohort"].split("__")[0] for r in rows if r.get("cohort")}
    lines = []
    for r in rows:
        if r["status"] == "suppressed":
            for use in e["suppressions"]:
                if use["name"] == r["suppressed_by"] and use["matched"]:
                    lines.append(f"decided by suppression {use['name']}:")
                    lines += [_clause(c, show, describe=True) for c in use["clauses"]]
                    break
    suppressed = {r["cohort"].split("__")[0] for r in rows
                  if r.get("cohort") and r["status"] == "suppressed"}
    for use in e["cohorts"]:
        if use["name"] in placed:
            lines.append(f"its cohort had it not been suppressed, {use['name']}:"
                         if use["name"] in suppressed else f"decided by cohort {use['name']}:")
            lines += [_clause(c, show, describe=True) for c in use["clauses"]]
    names = list(dict.fromkeys(u["name"] for u in e["suppressions"]))
    applied = list(dict.fromkeys(u["name"] for u in e["suppressions"] if u["matched"]))
    if not applied:
        lines.append(f"suppressions: none applies (checked {', '.join(names)})"
                     if names else "suppressions: none in this campaign")
    else:
        lines.append(f"suppressions that apply: {', '.join(applied)}")
    misses = sorted((u for u in e["cohorts"] if not u["matched"] and u["name"] not in placed),
                    key=lambda u: (sum(not c["passed"] for c in u["clauses"]),
                                   u["priority"] or 0))
    if misses:
        lines.append("nearest miss of each other cohort (fewest failed clauses first):")
        width = max(len(u["name"]) for u in misses[:MISSES_SHOWN])
        for use in misses[:MISSES_SHOWN]:
            failed = [c for c in use["clauses"] if not c["passed"]]
            more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
            lines.append(f"  {use['name']:<{width}}  {_clause(failed[0], show, mark=False)}"
                         f"{more}")
        if len(misses) > MISSES_SHOWN:
            lines.append(f"  ... {len(misses) - MISSES_SHOWN} more cohorts missed by as many "
                         "clauses or more (--full shows every clause)")
    return lines


def _full_lines(e: dict, show: _Values) -> list[str]:
    lines = []
    for title, items in (("cohorts", e["cohorts"]), ("suppressions", e["suppressions"])):
        lines.append(f"{title}:")
        varying = _varying_params(items)
        for item in items:
            mark = "MATCH" if item["matched"] else "no"
            prio = f" (priority {item['priority']})" if item["priority"] is not None else ""
            which = ", ".join(f"{k}={item['params'][k]}" for k in varying.get(item["name"], ())
                              if k in item.get("params", {}))
            lines.append(f"  [{mark}] {item['name']}{f' [{which}]' if which else ''}{prio}")
            lines += [_clause(c, show, indent="      ", describe=True)
                      for c in item["clauses"]]
    return lines


def _varying_params(items: list[dict]) -> dict[str, list[str]]:
    """For a name used several times (a suppression per channel), the params that tell
    its uses apart, so each line says which use it is."""
    by_name: dict[str, list[dict]] = {}
    for item in items:
        by_name.setdefault(item["name"], []).append(item.get("params", {}))
    return {name: [k for k in sorted({k for p in uses for k in p})
                   if len({repr(p.get(k)) for p in uses}) > 1]
            for name, uses in by_name.items() if len(uses) > 1}


def _clause(c: dict, show: _Values, indent: str = "  ", mark: bool = True,
            describe: bool = False) -> str:
    values = ", ".join(f"{k} = {show(k, v, describe)}" for k, v in c["values"].items())
    head = f"{'pass' if c['passed'] else 'FAIL'}  " if mark else ""
    return f"{indent}{head}{c['text']}" + (f"   ({values})" if values else "")


def _contribution_lines(e: dict, show: _Values) -> list[str]:
    lines = []
    versions = e.get("model_versions") or {}
    for col, rows in e["contributions"].items():
        model = (e.get("score_models") or {}).get(col)
        version = f" v{versions[model]}" if model in versions else ""
        score = (e.get("scores") or {}).get(col)
        lines.append(f"top contributions to {col}"
                     + (f" = {show(col, score)}" if col in (e.get("scores") or {}) else "")
                     + (f" (model {model}{version})" if model else "") + ":")
        lines += [f"  {r['feature']} = {show(r['feature'], _number(r.get('value')))}: "
                  f"{r['contribution']:+.4f}" for r in rows] \
            or ["  (no champion model: nothing to show)"]
    return lines


class _Values:
    """Formats one feature's value for reading, and remembers which features it showed
    with their descriptions (for the "what the values mean" lines)."""

    def __init__(self, fmt, meaning: dict[str, str]):
        self.fmt, self.meaning = fmt, meaning
        self.used: set[str] = set()

    def is_money(self, column: str) -> bool:
        """Money is a feature whose description names the project's currency."""
        import re

        return bool(re.search(rf"\b{re.escape(self.fmt.currency)}\b",
                              self.meaning.get(column, "")))

    def __call__(self, column: str, value, describe: bool = False) -> str:
        if describe and column in self.meaning:
            self.used.add(column)
        return _formatted(value, self.fmt, self.is_money(column))


def _formatted(value, fmt, money: bool) -> str:
    import datetime as dt

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M %Z").strip()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float):
        if money:
            return fmt.money_exact(value)
        return fmt.count(value) if isinstance(value, int) else fmt.number(value, 4)
    return str(value)


def _number(value):
    """A reason's value as the model wrapper gives it (text) back to a number."""
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


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
