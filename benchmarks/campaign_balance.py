"""Is the shipped campaign one a CRM manager would send? At 100k customers every cohort of
the campaign file must have assigned customers, and no cohort may take more than half of
the assigned customers (a catch-all that swallows the plan).

Run on a workspace whose models are trained (e.g. the benchmark's 100k world, or
``segflow demo holi``)::

    python -m benchmarks.campaign_balance --home /tmp/b100k [--campaign holi_2027]

It scores the campaign's features with the champions, evaluates the memberships, prints
each cohort's assigned count and share, and exits 1 when a cohort is empty or too large.
The fast test (tests/benchmarks/test_benchmarks_balance.py) runs the same check on a
400-customer world, where only the share holds proportionally: the smallest state x
language cohorts hold about 0.05% of 100k, which rounds to nobody at 400.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MAX_SHARE = 0.5


def balance(memberships, resolved, max_share: float = MAX_SHARE) -> dict:
    """Assigned customers per cohort (split cohorts per split value), the empty cohorts of
    the campaign file and the cohorts above ``max_share`` of all assigned customers."""
    import duckdb

    m = memberships  # noqa: F841 - read by DuckDB by name
    rows = duckdb.sql("SELECT cohort, count(*) FROM m WHERE status = 'assigned' "
                      "GROUP BY 1 ORDER BY 2 DESC").fetchall()
    assigned = dict(rows)
    total = sum(assigned.values())
    empty = []
    for b in resolved.cohorts:
        names = [c for c in assigned if c == b.key or c.startswith(f"{b.key}__")]
        if not names:
            empty.append(b.key)
    large = [(c, n / total) for c, n in assigned.items() if total and n / total > max_share]
    problems = [f"cohort {c} has no assigned customer" for c in empty]
    problems += [f"cohort {c} takes {s:.0%} of the assigned customers (limit {max_share:.0%})"
                 for c, s in large]
    return {"assigned": total, "cohorts": assigned, "empty": empty, "too_large": large,
            "problems": problems}


def check_workspace(home: Path, campaign: str, max_share: float = MAX_SHARE) -> dict:
    """Score and evaluate ``campaign`` in the workspace at ``home``; the balance of it."""
    from segflow.scoring.evaluate import evaluate_memberships
    from segflow.scoring.refresh import run_as_of
    from segflow.scoring.resolve import resolve_campaign
    from segflow.scoring.score import score
    from segflow.settings import Settings

    settings = Settings(home=Path(home).resolve())
    resolved = resolve_campaign(settings, campaign)
    scored = score(settings, resolved, run_as_of(resolved, None))
    return balance(evaluate_memberships(scored.frame, resolved, "balance"), resolved,
                   max_share)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, type=Path, help="trained workspace")
    parser.add_argument("--campaign", default="holi_2027")
    parser.add_argument("--max-share", type=float, default=MAX_SHARE)
    args = parser.parse_args(argv)
    result = check_workspace(args.home, args.campaign, args.max_share)
    total = result["assigned"]
    for cohort, n in result["cohorts"].items():
        print(f"  {cohort:42s}{n:>9,d} {n / total:6.1%}")
    print(f"{args.campaign}: {total:,} assigned in {len(result['cohorts'])} cohorts; "
          f"largest {max(result['cohorts'].values()) / total:.1%}")
    for problem in result["problems"]:
        print(f"problem: {problem}")
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
