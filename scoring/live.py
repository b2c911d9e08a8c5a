"""What a template marked ``live: true`` may be: checked by ``segflow templates check``.

A live template's rule is re-evaluated when an event arrives, between governed refreshes
(``segflow.governance.live_additions``), on the published run's scored frame with its
*live columns* replaced by their live values: a live column is one a count feature of
realtime.yaml adds to (``column:``), and its live value is the run's value plus the
events applied since the run's as-of. Every other column keeps the run's value. So a live
template must be a cohort (suppressions change live through realtime.yaml's own rules), must
not rank (a top-N or top-fraction cohort depends on every customer's score, so one event
cannot admit one customer), and must reference at least one live column (otherwise no
event can change its answer). Each breach is one line at the template's ``live:`` key.
"""

from __future__ import annotations

from sqlglot import exp

from segflow.scoring.predicate import columns_used
from segflow.settings import Settings


def live_problems(settings: Settings, template, tree: exp.Expression | None) -> list[str]:
    """Why ``template`` (``live: true``) cannot be evaluated live; empty when it can."""
    from segflow.errors import SegflowError

    if template.kind != "cohort":
        return ["live: true applies to cohort templates only (a suppression changes live "
                "through realtime.yaml's suppressions)"]
    if template.rank_by or template.top_fraction is not None or template.top_n is not None:
        return ["live: true cannot rank (rank_by, top_n, top_fraction): a ranked cohort "
                "depends on every customer's score, so one event cannot admit one customer"]
    try:
        from segflow.ingest.events.config import load_realtime

        live = load_realtime(settings).live_columns()
    except SegflowError as err:
        return [f"live: true needs a readable realtime.yaml: {err}"]
    if tree is None:
        return []  # the rule's own problems are reported already
    if not set(columns_used(tree)) & set(live):
        known = ", ".join(sorted(live)) or "none: give a count feature a column"
        return ["live: true, but the rule references no live column, so no event can change "
                f"it (live columns, realtime.yaml features with column: {known})"]
    return []
