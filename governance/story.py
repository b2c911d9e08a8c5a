"""Movement told as a story: one paragraph for the whole run and one per cohort, drafted
deterministically from ``movement.parquet`` (every number in them is a count of its rows),
moves between cohorts labelled up or down by the campaign's priority order (priority 1 is
the top tier), and a sample of movers of every kind for the page.

Told from the rows of ``QUERIES`` (over views ``m_cur`` and ``movement``, the run's
memberships and movement files; never recomputing movement), which the report reads once
and keeps beside the run (``segflow.governance.report.run_figures``).
"""

from __future__ import annotations

PER_KIND = 100  # movers of each kind shown on the page (all are in movement.csv)


def _rank(ctx) -> dict[str, int]:
    """Cohort (or its template base for split cohorts) -> priority."""
    return {c.name: c.priority for c in ctx.config.cohorts}


def direction(rank: dict[str, int], before: str | None, after: str | None) -> str | None:
    """'up' when the customer moved to a cohort of higher priority (a lower number)."""
    if not before or not after:
        return None
    b, a = rank.get(before.split("__")[0]), rank.get(after.split("__")[0])
    if b is None or a is None or a == b:
        return None
    return "up" if a < b else "down"


def _count(n: int, fmt) -> str:
    return fmt.count(n)


def label(ctx, cohort: str) -> str:
    """The cohort's title, with its name when the campaign uses its template more than once
    ('Festive buyers of one zone (festive_west)')."""
    base = cohort.split("__")[0]
    rule = ctx.rules.get(base)
    title = ctx.title(cohort)
    if rule is not None and rule.spec.name != rule.spec.template and "__" not in cohort:
        return f"{title} ({cohort})"
    return title


# the rows a story is told from, each a query over views ``m_cur`` and ``movement``
QUERIES = {
    "story_sizes": """SELECT cohort, count(*) FROM m_cur
        WHERE status IN ('assigned', 'holdout') AND cohort IS NOT NULL GROUP BY 1 ORDER BY 1""",
    "story_moved": """SELECT cohort_before, cohort_after, count(*) FROM movement
        WHERE movement = 'moved' GROUP BY ALL ORDER BY 1, 2""",
    "story_overrides": """SELECT count(*) FROM movement WHERE override_id IS NOT NULL
        AND movement <> 'stayed'""",
    "story_flows": """
      SELECT cohort, side, coalesce(reason, 'no reason recorded') AS reason, count(*) AS n
      FROM (SELECT cohort_after AS cohort, 'joined' AS side,
                   coalesce(join_reason, reason) AS reason
              FROM movement WHERE movement IN ('entered', 'moved')
            UNION ALL
            SELECT cohort_before, 'left', coalesce(leave_reason, reason)
              FROM movement WHERE movement IN ('exited', 'moved'))
      GROUP BY ALL ORDER BY cohort, side, n DESC, reason""",
    "story_movers": f"""SELECT entity_id, movement, cohort_before, cohort_after,
          coalesce(reason, '') AS reason, override_id FROM (
            SELECT *, row_number() OVER (PARTITION BY movement ORDER BY entity_id) AS i
            FROM movement WHERE movement <> 'stayed') WHERE i <= {PER_KIND}
        ORDER BY movement, entity_id""",
}


def flows(rows: list[tuple]) -> list[dict]:
    """Per cohort: customers who joined it, left it, and the top reasons each way, from
    the ``story_flows`` rows."""
    out: dict[str, dict] = {}
    for cohort, side, reason, n in rows:
        f = out.setdefault(cohort, {"cohort": cohort, "joined": 0, "left": 0,
                                    "why_joined": [], "why_left": []})
        f[side] += n
        f["why_" + side].append((reason, n))
    return sorted(out.values(), key=lambda f: (-(f["joined"] + f["left"]), f["cohort"]))


def _reasons(parts: list[tuple[str, int]], fmt, words, top: int = 3) -> str:
    shown = [f"{fmt.count(n)} {words(reason)}" for reason, n in parts[:top]]
    rest = sum(n for _, n in parts[top:])
    if rest:
        shown.append(f"{fmt.count(rest)} for other reasons")
    return "; ".join(shown)


def cohort_paragraph(f: dict, size_after: int, title: str, fmt, words, ups: int,
                     downs: int) -> str:
    """'Strategic grew by 4 to 31: 6 joined (3 revenue_4q reached 2 crore ...); 2 left (...).'"""
    net = f["joined"] - f["left"]
    verb = f"grew by {fmt.count(net)}" if net > 0 else (
        f"shrank by {fmt.count(-net)}" if net < 0 else "kept its size")
    text = f"{title} {verb} to {fmt.count(size_after)}"
    parts = []
    if f["joined"]:
        parts.append(f"{fmt.count(f['joined'])} joined ({_reasons(f['why_joined'], fmt, words)})")
    if f["left"]:
        parts.append(f"{fmt.count(f['left'])} left ({_reasons(f['why_left'], fmt, words)})")
    text += ": " + "; ".join(parts) if parts else ""
    if ups or downs:
        text += f". Of those who moved in from another cohort, {fmt.count(ups)} moved up " \
                f"and {fmt.count(downs)} moved down"
    return text + "."


def run_paragraph(counts: dict, previous: str | None, overrides: int, fmt) -> str:
    if not previous:
        return (f"Nothing of this campaign has been published before: all "
                f"{fmt.count(counts['entered'])} customers in a cohort entered it with this run.")
    text = (f"Against the published run {previous}, {fmt.count(counts['entered'])} customers "
            f"entered a cohort, {fmt.count(counts['exited'])} left every cohort, "
            f"{fmt.count(counts['moved'])} moved from one cohort to another and "
            f"{fmt.count(counts['stayed'])} stayed where they were.")
    if overrides:
        text += f" {fmt.count(overrides)} of the moves are reviewers' overrides."
    return text


def story(rows: dict[str, list[tuple]], ctx, fmt, counts: dict,
          previous: str | None) -> dict:
    """Paragraphs, per-cohort flows, every reason with its count, a sample of movers (every
    kind represented) and the glossary of the features the reasons name, from the rows of
    ``QUERIES``."""
    from segflow.governance.wording import wording_for

    rank, words = _rank(ctx), wording_for(ctx)
    size = dict(rows["story_sizes"])
    up_into: dict[str, list[int]] = {}
    for before, after, n in rows["story_moved"]:
        d = direction(rank, before, after)
        if d:
            up_into.setdefault(after, [0, 0])[0 if d == "up" else 1] += n
    overrides = rows["story_overrides"][0][0]
    fl = flows(rows["story_flows"])
    paragraphs = [run_paragraph(counts, previous, overrides, fmt)]
    for f in fl:
        ups, downs = up_into.get(f["cohort"], [0, 0])
        paragraphs.append(cohort_paragraph(f, size.get(f["cohort"], 0), label(ctx, f["cohort"]),
                                           fmt, words, ups, downs))
    reasons = [{"cohort": f["cohort"], "side": side, "reason": words(reason), "n": n}
               for f in fl for side in ("joined", "left") for reason, n in f["why_" + side]]
    sample = []
    for e, kind, before, after, reason, override in rows["story_movers"]:
        d = direction(rank, before, after) if kind == "moved" else None
        sample.append({"entity_id": e, "movement": f"moved {d}" if d else kind,
                       "cohort_before": before, "cohort_after": after,
                       "reason": words(reason),
                       "override_id": override})
    total = sum(v for k, v in counts.items() if k != "stayed")
    return {"story": paragraphs, "flows": fl, "reasons": reasons, "movers": sample,
            "movers_total": total, "glossary": words.glossary()}
