"""Champion/challenger in the MLflow registry: compare on the same held-out data, promote
only when the challenger is better by the configured margin, record the decision."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from segflow.errors import SegflowError

CHAMPION = "champion"


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    metric: str
    challenger: float
    champion: float | None
    champion_version: str | None
    awaiting_approval: bool = False   # better, but the config wants a named approver

    @property
    def label(self) -> str:
        if self.awaiting_approval:
            return "awaiting_approval"
        return "promoted" if self.promote else "not_promoted"

    def tags(self) -> dict[str, str]:
        return {
            "promotion.decision": self.label,
            "promotion.reason": self.reason,
            "promotion.metric": self.metric,
            "promotion.challenger_value": f"{self.challenger:.6g}",
            "promotion.champion_value": "" if self.champion is None else f"{self.champion:.6g}",
            "promotion.champion_version": self.champion_version or "",
        }


def decide(promotion: dict, challenger: float, champion: float | None,
           champion_version: str | None) -> Decision:
    """Promote when there is no champion, or when the challenger beats it by at least
    min_improvement in the configured direction; a NaN challenger is never promoted."""
    metric, margin = promotion["metric"], promotion["min_improvement"]
    sign = 1.0 if promotion["higher_is_better"] else -1.0

    def done(ok: bool, why: str) -> Decision:
        return Decision(ok, why, metric, challenger, champion, champion_version)

    if challenger is None or math.isnan(challenger):
        return done(False, f"challenger {metric} is not a number")
    if champion_version is None:
        return done(True, "no champion yet")
    if champion is None or math.isnan(champion):
        return done(False, f"champion v{champion_version} could not be evaluated on this "
                    "held-out set; promote by hand if intended")
    gain = sign * (challenger - champion)
    verdict = "better" if gain >= margin else "not better"
    return _gated(promotion, done(gain >= margin, f"{metric} {challenger:.4f} vs champion "
                                  f"v{champion_version} {champion:.4f}: {verdict} by the "
                                  f"required {margin:g}"))


def _gated(promotion: dict, decision: Decision) -> Decision:
    """With ``approval: manual`` a challenger that would replace the champion waits for one
    of the named approvers (``segflow models promote``) instead. The first version of a
    model has nothing to replace and is promoted so that scoring has a champion."""
    if not decision.promote or promotion.get("approval") != "manual":
        return decision
    who = ", ".join(promotion.get("approvers") or [])
    return Decision(False, f"{decision.reason}; promotion is manual: awaiting approval by "
                    f"one of {who} (segflow models promote)", decision.metric,
                    decision.challenger, decision.champion, decision.champion_version,
                    awaiting_approval=True)


def champion_version(client, name: str):
    """The ModelVersion under @champion, or None when the model has none (or no model)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def record(client, run_id: str, version: str, name: str, decision: Decision) -> None:
    """Decision and both figures on the run and on the version; move the alias if promoted."""
    for key, value in decision.tags().items():
        client.set_tag(run_id, key, value)
        client.set_model_version_tag(name, version, key, value)
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, version)


def promote_by_hand(client, name: str, version: str, reason: str, user: str,
                    approved_by: str | None = None) -> dict[str, str]:
    """Manual promotion (segflow models promote): the reason is required and kept, with
    who ran it and, where the model needs one, the named approver; returns the tags."""
    if not reason.strip():
        raise SegflowError("a promotion needs a reason (--reason)")
    try:
        mv = client.get_model_version(name, str(version))
    except Exception as err:
        raise SegflowError(f"model {name} has no version {version}") from err
    previous = champion_version(client, name)
    tags = {"promotion.decision": "promoted_by_hand", "promotion.reason": reason,
            "promotion.by": user, "promotion.approved_by": approved_by or "",
            "promotion.previous_champion": str(previous.version) if previous else ""}
    for key, value in tags.items():
        client.set_model_version_tag(name, mv.version, key, value)
        if mv.run_id:
            client.set_tag(mv.run_id, key, value)
    client.set_registered_model_alias(name, CHAMPION, mv.version)
    return tags


def version_rows(client, name: str) -> list[dict]:
    """Every version of a model with its metrics and decision, newest first."""
    champ = champion_version(client, name)
    rows = []
    for mv in client.search_model_versions(f"name='{name}'"):
        run = client.get_run(mv.run_id) if mv.run_id else None
        rows.append({
            "version": int(mv.version),
            "champion": bool(champ and champ.version == mv.version),
            "created": mv.creation_timestamp,
            "decision": mv.tags.get("promotion.decision", ""),
            "reason": mv.tags.get("promotion.reason", ""),
            "snapshot": run.data.tags.get("data_snapshot", "") if run else "",
            "metrics": run.data.metrics if run else {},
        })
    return sorted(rows, key=lambda r: -r["version"])


def features_of(mv) -> list[str] | None:
    raw = mv.tags.get("features") if mv is not None else None
    return json.loads(raw) if raw else None


def metrics_table(rows: list[dict], promotion_metric: str) -> str:
    """Every metric any version logged (rows) by version (columns, champion marked *), the
    promotion metric first; a metric a version did not log shows '-'."""
    names = sorted({k for r in rows for k in r["metrics"]})
    names = [promotion_metric, *[n for n in names if n != promotion_metric]]
    width = max(len(n) for n in names) + len(" (promotion)") + 2
    head = "".join(f"{('*' if r['champion'] else '') + 'v' + str(r['version']):>12s}"
                   for r in rows)
    lines = [f"{'metric':{width}s}{head}"]
    for n in names:
        label = f"{n} (promotion)" if n == promotion_metric else n
        cells = "".join(f"{r['metrics'][n]:12.4f}" if n in r["metrics"] else f"{'-':>12s}"
                        for r in rows)
        lines.append(f"{label:{width}s}{cells}")
    return "\n".join(lines)
