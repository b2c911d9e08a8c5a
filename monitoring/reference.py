"""Which data a run is compared with, and where each side's files are.

The default reference is the campaign's last *published* run: drift is about what changed
since customers last received segments. Publications are read through governance's read API
(``segflow.governance.publications.publication_history``), never by parsing the audit log; without
one, the previous run of the same campaign stands in. 'training' compares with the training
snapshot instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segflow.errors import SegflowError
from segflow.runstore import list_runs, load_run, run_dir
from segflow.settings import Settings


@dataclass(frozen=True)
class Side:
    label: str                  # run id or snapshot path, for the report
    features: Path
    memberships: Path | None    # None for a training snapshot (no cohorts)
    rows: int | None = None     # the side's rows when ``features`` is a sample of it (Spark)


def run_side(settings: Settings, run_id: str) -> Side:
    folder = run_dir(settings, run_id)
    load_run(settings, run_id)  # clear error for an unknown run
    features = folder / "features.parquet"
    if not features.exists():
        raise SegflowError(f"run '{run_id}' has no features.parquet yet (score it first)")
    memberships = folder / "memberships.parquet"
    return Side(run_id, features, memberships if memberships.exists() else None)


def published_run_ids(settings: Settings, campaign: str) -> list[str]:
    """Run ids of the campaign's publications, oldest version first."""
    from segflow.governance.publications import publication_history

    return [p["run_id"] for p in publication_history(settings, campaign)]


def resolve_reference(settings: Settings, run_id: str, reference: str,
                      training_snapshot: str | None = None) -> Side | None:
    """The reference side for ``run_id``, or None when there is nothing to compare with."""
    current = load_run(settings, run_id)
    if reference == "training":
        path = Path(training_snapshot or settings.home / "training" / "snapshot.parquet")
        if not path.exists():
            raise SegflowError(f"reference 'training': no snapshot at {path} (set "
                               "drift.training_snapshot in the campaign file)")
        return Side(str(path), path, None)
    if reference not in ("last_published", "previous"):
        return run_side(settings, reference)
    earlier = [r.run_id for r in list_runs(settings, current.campaign)
               if r.created_at < current.created_at]
    if reference == "last_published":
        published = [r for r in published_run_ids(settings, current.campaign) if r in earlier]
        if published:
            return run_side(settings, published[-1])
    with_features = [r for r in earlier if (run_dir(settings, r) / "features.parquet").exists()]
    return run_side(settings, with_features[-1]) if with_features else None
