"""The governed refresh: scoring's refresh with reviewers' overrides applied, then governance.

Overrides live in governance, scoring must not import it, so they reach the memberships
through ``refresh_campaign``'s ``adjust`` hook. The ids of the overrides applied are recorded
in the run's inputs, so a re-run applies exactly the same ones even if reviewers have decided
more since.
"""

from __future__ import annotations

from datetime import datetime

from segflow.lock import workspace_lock
from segflow.runstore import RunRecord, mark_orphans
from segflow.settings import Settings


def _overrides_for(settings: Settings, campaign: str, as_of: datetime,
                   override_ids: list[str] | None):
    from segflow.governance.overrides import active_overrides

    active = active_overrides(settings, campaign, as_of)
    if override_ids is None:
        return active
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = pa.array(override_ids, type=active.schema.field("override_id").type)
    return active.filter(pc.is_in(active["override_id"], value_set=wanted))


def refresh_with_overrides(settings: Settings, campaign: str, as_of=None,
                           params: dict | None = None, *, features=None,
                           override_ids: list[str] | None = None,
                           model_versions: dict[str, str] | None = None,
                           curated_versions: dict[str, dict] | None = None) -> RunRecord:
    """Score and segment a campaign, then apply its curated cohorts (the latest list of
    each, or ``curated_versions``, a re-run's) and the overrides active at its as-of time:
    an override decided about one account outranks a list about many.

    Holds the workspace lock; runs a command that died left in state ``created`` are marked
    failed first (no other command can be making one while the lock is held)."""
    from segflow.governance.config import load_config
    from segflow.governance.curated import apply_to_run
    from segflow.governance.overrides import apply_overrides
    from segflow.scoring.refresh import refresh_campaign

    load_config(settings, campaign)  # a bad review/controls section stops it before scoring

    def adjust(memberships, record: RunRecord):
        from segflow.faults import reach

        reach(settings, "refresh.scored")  # the run exists, its memberships not yet
        memberships = apply_to_run(settings, memberships, record, curated_versions)
        when = datetime.fromisoformat(record.as_of)
        overrides = _overrides_for(settings, campaign, when, override_ids)
        record.inputs["override_ids"] = sorted(overrides["override_id"].to_pylist())
        return apply_overrides(memberships, overrides, when) if overrides.num_rows \
            else memberships

    with workspace_lock(settings, "refresh"):
        mark_orphans(settings, "interrupted: the command that made this run ended before it "
                     "finished (found by the next refresh)")
        return refresh_campaign(settings, campaign, as_of, params, features=features,
                                adjust=adjust, model_versions=model_versions)


def governed_refresh(settings: Settings, campaign: str, as_of=None,
                     params: dict | None = None):
    """Refresh (with overrides) and govern: controls, movement, review queue, report."""
    from segflow.governance.pipeline import govern_run
    from segflow.progress import stage

    with workspace_lock(settings, "refresh"):
        record = refresh_with_overrides(settings, campaign, as_of, params)
        with stage("governed: controls, movement, review, seal and report"):
            return record, govern_run(settings, record.run_id)


def apply_overrides_now(settings: Settings, run_id: str, actor: str):
    """Apply the overrides decided in a run to that run at once, without re-scoring: the
    memberships are re-derived from the run's own rows (``apply_overrides``, the function a
    refresh uses), the workspace's copy of the run's rows replaced, the applied ids recorded
    in the run's inputs (so a re-run applies the same ones), and the run governed again
    (controls, movement, review queue, a new seal, the report). Approvals of the earlier
    content no longer count: the gate compares them with the new seal."""
    import os

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from segflow.db import connect, has_schema
    from segflow.governance.overrides import active_overrides, apply_overrides
    from segflow.governance.pipeline import govern_run
    from segflow.runstore import load_run, run_dir, save_run
    from segflow.scoring.refresh import append_memberships

    with workspace_lock(settings, "override"):
        record = load_run(settings, run_id)
        when = datetime.fromisoformat(record.as_of)
        active = active_overrides(settings, record.campaign, when)
        applied = pa.array(record.inputs.get("override_ids") or [], type=pa.string())
        mine = pc.or_(pc.equal(active["run_id"], run_id),
                      pc.is_in(active["override_id"], value_set=applied))
        overrides = active.filter(pc.fill_null(mine, False))
        path = run_dir(settings, run_id) / "memberships.parquet"
        memberships = apply_overrides(pq.ParquetFile(path).read(), overrides, when)
        staged = path.with_name(".memberships.overriding.parquet")
        pq.write_table(memberships, staged)
        os.replace(staged, path)
        with connect(settings) as con:  # the workspace's copy of the run's rows
            if has_schema(con, "memberships", "run_id"):
                con.execute("DELETE FROM memberships WHERE run_id = ?", [run_id])
        append_memberships(settings, memberships)
        record.inputs["override_ids"] = sorted(overrides["override_id"].to_pylist())
        save_run(settings, record)
        return govern_run(settings, run_id, actor)
