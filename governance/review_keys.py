"""The review desk's keys of an item, stored with it so no filter or sort computes them
per row at request time: the cohorts' base names (a split cohort ``engaged__north|hindi``
is ``engaged``) and the size of move (how many priority levels the item crosses between
the cohort it was in and the one proposed). One SQL text for both engines: the desk fills
a DuckDB run's (``desk.queue.fill_keys``), the executors write a Spark run's with its items
(``governance.pipeline``).
"""

from __future__ import annotations

from segflow.scoring.sqlparts import literal as lit


def cohort_levels(ctx) -> tuple[list[str], list[int]]:
    """Cohort names and their priority level (0 = the highest priority)."""
    tiers = {r.spec.name: r.spec.priority for r in ctx.rules.values()}
    order = {p: i for i, p in enumerate(sorted(set(tiers.values())))}
    names = sorted(tiers)
    return names, [order[tiers[n]] for n in names]


def keys_sql(ctx) -> dict[str, str]:
    """The desk's keys of an item, as SQL over its columns that either engine runs: the
    cohorts' base names, and the size of move (0 when the cohort stays, 1 to join or leave
    the campaign or when a cohort is not the run's, else the priority levels crossed)."""
    names, levels = cohort_levels(ctx)

    def level(column: str) -> str:
        if not names:
            return "CAST(NULL AS INTEGER)"
        return (f"CASE split_part({column}, '__', 1) "
                + " ".join(f"WHEN {lit(n)} THEN {v}" for n, v in zip(names, levels, strict=True))
                + " END")

    return {"base_before": "split_part(cohort_before, '__', 1)",
            "base_proposed": "split_part(proposed_cohort, '__', 1)",
            "move": "CAST(CASE WHEN coalesce(cohort_before, '') = coalesce(proposed_cohort, '') "
                    "THEN 0 WHEN cohort_before IS NULL OR proposed_cohort IS NULL THEN 1 "
                    f"ELSE coalesce(abs({level('cohort_before')} - {level('proposed_cohort')}), "
                    "1) END AS INTEGER)"}
