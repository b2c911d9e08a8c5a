"""The stages of a Holi 2027 refresh, each one call into the stage's public function.

Every function takes (settings, customers) and returns {"seconds", "phases", "info"}:
``seconds`` is the timed work only (set-up such as writing a sample for the equality checks
is left out), ``phases`` splits it where the stage's own functions allow.
"""

from __future__ import annotations

import json

from benchmarks.timing import Stopwatch, phases_of
from benchmarks.world import (
    APPROVER,
    AS_OF,
    CAMPAIGN,
    ENTITY,
    MODELS,
    PREVIOUS_AS_OF,
    SEED,
    peers_dir,
    runs_file,
)


def _runs(settings) -> dict:
    path = runs_file(settings)
    return json.loads(path.read_text()) if path.exists() else {}


def _save_run(settings, name: str, run_id: str) -> None:
    runs = _runs(settings)
    runs[name] = run_id
    runs_file(settings).write_text(json.dumps(runs))


def generate(settings, customers: int) -> dict:
    """The Holi world as messy source files (what ``segflow demo-data holi`` writes)."""
    from segflow.ingest.synthetic.holi import TABLES
    from segflow.ingest.synthetic.writer import count_rows, write_holi_world, write_sources_yaml

    with Stopwatch() as sw:
        paths = write_holi_world(settings.sources_dir, customers, SEED, messy=True,
                                 truth_dir=settings.truth_dir)
        write_sources_yaml(settings.sources_dir, {t: paths[t] for t in TABLES})
    return {"seconds": sw.seconds, "info": {t: count_rows(paths[t]) for t in TABLES}}


def ingest(settings, customers: int) -> dict:
    from segflow.ingest.pipeline import run_ingest

    with Stopwatch() as sw:
        report = run_ingest(settings)
    return {"seconds": sw.seconds, "info": {
        t: {"written": r.written, "quarantined": r.quarantined_total}
        for t, r in report.tables.items()}}


def history(settings, customers: int) -> dict:
    """Feature snapshots as of PREVIOUS_AS_OF: last week's build, which training and the
    set-up run read. Set-up, not part of the refresh."""
    from segflow.featurestore.build import build_features

    with Stopwatch() as sw:
        build_features(settings, PREVIOUS_AS_OF)
    return {"seconds": sw.seconds}


def train(settings, customers: int) -> dict:
    """The models holi_2027 reads, trained on last year's campaign (point in time)."""
    from segflow.training.train import train_models

    with Stopwatch() as sw:
        results = train_models(settings, CAMPAIGN, models=list(MODELS))
    return {"seconds": sw.seconds, "info": {r.name: str(r) for r in results}}


def _refresh(settings, as_of, phases: dict) -> str:
    import segflow.scoring.refresh
    import segflow.scoring.score
    with phases_of([(segflow.scoring.refresh, "resolve_campaign", "resolve campaign"),
                    (segflow.scoring.score, "champions", "(of which load champion models)"),
                    (segflow.scoring.refresh, "score_to_file", "retrieval + scoring, streamed"),
                    (segflow.scoring.score, "score_batch", "(of which model predictions)"),
                    (segflow.scoring.refresh, "evaluate_memberships", "segment evaluation"),
                    (segflow.scoring.refresh, "append_memberships", "store memberships")], phases):
        return segflow.scoring.refresh.refresh_campaign(settings, CAMPAIGN, as_of).run_id


def _govern(settings, run_id: str, phases: dict):
    import segflow.governance.pipeline
    import segflow.governance.report
    import segflow.governance.review
    with phases_of([(segflow.governance.pipeline, "movement_for", "movement"),
                    (segflow.governance.pipeline, "run_controls", "controls"),
                    (segflow.governance.review, "find_exceptions", "review queue"),
                    (segflow.governance.report, "write_report", "report")], phases):
        return segflow.governance.pipeline.govern_run(settings, run_id)


def _publish(settings, run_id: str) -> bool:
    """Approve and publish as the gate requires: drift checked (the set-up run has nothing
    to compare with), a breach acknowledged as the owner would (the benchmark measures the
    path, not the judgement), open review items accepted explicitly. Returns whether the
    drift gate was breached."""
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve, publish_run
    from segflow.monitoring.gate import acknowledge, check, gate_status

    passed, reasons = gate_status(settings, run_id)
    if not passed and "not checked" in " ".join(reasons):
        passed = check(settings, CAMPAIGN, run_id)[1]["passed"]
    if not passed:
        acknowledge(settings, run_id, APPROVER, "benchmark: synthetic week-on-week drift")
    approve(settings, run_id, APPROVER, "benchmark run on a synthetic world")
    publish_run(settings, run_id, by=APPROVER,
                accept_open=verdict(settings, run_id).open_exceptions,
                reason="benchmark run: open review items go out as proposed")
    return not passed


def baseline(settings, customers: int) -> dict:
    """Last week's published run (refresh, governance, publication as of PREVIOUS_AS_OF):
    what movement and drift compare the timed refresh with. Set-up."""
    phases: dict[str, float] = {}
    with Stopwatch() as sw:
        run_id = _refresh(settings, PREVIOUS_AS_OF, phases)
        _govern(settings, run_id, {})
        _publish(settings, run_id)
    _save_run(settings, "previous", run_id)
    return {"seconds": sw.seconds, "info": {"run_id": run_id}}


def features(settings, customers: int) -> dict:
    """Every customer view as of AS_OF (kept beside earlier snapshots), then Feast apply."""
    import segflow.featurestore.build as build

    phases: dict[str, float] = {}
    with Stopwatch() as sw, phases_of([(build, "load_repo", "load repo"),
                                       (build, "apply", "feast apply")], phases):
        report = build.build_features(settings, AS_OF)
    phases.update({k: v["seconds"] for k, v in report.items() if "seconds" in v})
    return {"seconds": sw.seconds, "phases": phases,
            "info": {k: v.get("rows", v.get("skipped")) for k, v in report.items()}}


def retrieval(settings, customers: int) -> dict:
    """Every customer's features as of AS_OF; a sample is kept for the peers' checks."""
    from benchmarks.checks import write_sample
    from segflow.featurestore.retrieval import get_features

    with Stopwatch() as sw:
        frame = get_features(settings, ENTITY, as_of=AS_OF)
    write_sample(frame, peers_dir(settings) / "ours_retrieval_sample.parquet")
    return {"seconds": sw.seconds, "info": {"rows": frame.num_rows,
                                            "features": frame.num_columns - 2}}


def online(settings, customers: int) -> dict:
    from segflow.featurestore.online import load_online

    with Stopwatch() as sw:
        report = load_online(settings, AS_OF)
    return {"seconds": sw.seconds,
            "info": {k: {"rows": v["rows"]} for k, v in report.items()}}


def refresh(settings, customers: int) -> dict:
    """``refresh_campaign``: retrieval + scoring + segment evaluation of all 47 cohorts."""
    phases: dict[str, float] = {}
    with Stopwatch() as sw:
        run_id = _refresh(settings, AS_OF, phases)
    _save_run(settings, "current", run_id)
    phases["run record + files"] = sw.seconds - sum(v for k, v in phases.items()
                                                    if not k.startswith("(of which"))
    return {"seconds": sw.seconds, "phases": phases, "info": {"run_id": run_id}}


def govern(settings, customers: int) -> dict:
    """``govern_run``: movement against the published run, controls, review queue, report."""
    phases: dict[str, float] = {}
    with Stopwatch() as sw:
        result = _govern(settings, _runs(settings)["current"], phases)
    counts = result.movement.counts if result.movement else {}
    return {"seconds": sw.seconds, "phases": phases, "info": {
        "movement": {k: int(v) for k, v in counts.items()}, "exceptions": result.exceptions,
        "controls": {r.name: bool(r.passed) for r in result.controls}}}


def exports(settings, customers: int) -> dict:
    from segflow.governance.pipeline import export_for

    with Stopwatch() as sw:
        index = export_for(settings, _runs(settings)["current"])
    return {"seconds": sw.seconds, "info": {"files": len(index["files"]),
                                            "rows": sum(f["rows"] for f in index["files"])}}


def drift(settings, customers: int) -> dict:
    from segflow.monitoring.gate import check

    with Stopwatch() as sw:
        summary, gate = check(settings, CAMPAIGN, _runs(settings)["current"])
    return {"seconds": sw.seconds, "info": {"passed": bool(gate.get("passed")),
                                            "drifted": summary["features"].get("drifted")}}


def publish(settings, customers: int) -> dict:
    """Approval and atomic publication of the refreshed run."""
    with Stopwatch() as sw:
        breached = _publish(settings, _runs(settings)["current"])
    return {"seconds": sw.seconds, "info": {"drift_breach_acknowledged": breached}}
