"""The model card: what a reviewer reads before a version is promoted.

One JSON document (and the same as Markdown) logged with every training run, holding the
held-out metrics next to the champion's on the same rows, the oracle on a synthetic world
(true probabilities and effects), calibration, feature importance and the quality of the
model in each slice the model config names (``card.slice_by``, e.g. region x language), so
a model that is good on average but poor for one audience is seen before it ships.
"""

from __future__ import annotations

import math

import pandas as pd

#: slices smaller than this are listed with their size but not scored (too noisy to read)
MIN_SLICE_ROWS = 200
ORACLE_KEYS = ("oracle_auc", "spearman_true_p", "oracle_qini_auc", "oracle_uplift_at_30",
               "rmse_true_tau", "rmse_constant", "corr_true_tau")


def versus_champion(metrics: dict, champion: dict | None) -> list[dict]:
    """Every metric of the challenger beside the champion's on the same held-out rows."""
    rows = []
    for key in sorted(metrics):
        mine, theirs = metrics[key], (champion or {}).get(key)
        rows.append({"metric": key, "challenger": _num(mine), "champion": _num(theirs),
                     "difference": _num(mine - theirs) if theirs is not None else None})
    return rows


def by_slice(evaluate, test: pd.DataFrame, pred: pd.DataFrame, slice_by: list[str]
             ) -> list[dict]:
    """The kind's metrics within each combination of the slice columns (rows, metrics);
    a slice below MIN_SLICE_ROWS rows, or one the metrics cannot be computed on (one class,
    one arm), keeps its size and says why it has no figures."""
    if not slice_by:
        return []
    keys = test[slice_by].astype("string").fillna("(missing)")
    out = []
    for values, index in keys.groupby(slice_by, sort=True).groups.items():
        values = values if isinstance(values, tuple) else (values,)
        row = {**dict(zip(slice_by, values, strict=True)), "rows": int(len(index))}
        if len(index) < MIN_SLICE_ROWS:
            row["note"] = f"fewer than {MIN_SLICE_ROWS} rows: not scored"
        else:
            try:
                row.update({k: _num(v) for k, v in evaluate(test.loc[index],
                                                            pred.loc[index]).items()})
            except ValueError as err:  # one class or one arm only in this slice
                row["note"] = f"not scored: {err}"
        out.append(row)
    return out


def build_card(*, name: str, version: str, run_id: str, kind: str, metrics: dict,
               champion: dict | None, champion_version: str | None, decision: dict,
               importance: pd.Series | None, calibration: pd.DataFrame | None,
               slices: list[dict], slice_by: list[str], rows: tuple[int, int],
               as_of: str) -> dict:
    oracle = {k: _num(metrics[k]) for k in ORACLE_KEYS if k in metrics}
    return {
        "model": name, "version": version, "run_id": run_id, "kind": kind,
        "trained": {"train_rows": rows[0], "held_out_rows": rows[1], "as_of": as_of},
        "champion_version": champion_version,
        "versus_champion": versus_champion(metrics, champion),
        "oracle": oracle,
        "calibration": calibration.to_dict(orient="records") if calibration is not None else [],
        "feature_importance": ([{"feature": f, "gain": _num(v)}
                                for f, v in importance.head(15).items()]
                               if importance is not None else []),
        "slice_by": slice_by, "slices": slices, "promotion": decision,
    }


def to_markdown(card: dict) -> str:
    """The card as a page a reviewer reads in the MLflow UI."""
    lines = [f"# {card['model']} v{card['version']} ({card['kind']})", "",
             f"Trained on {card['trained']['train_rows']:,} rows, held out "
             f"{card['trained']['held_out_rows']:,} (as of {card['trained']['as_of']}).", "",
             f"Promotion: **{card['promotion'].get('decision', '')}**: "
             f"{card['promotion'].get('reason', '')}", "",
             f"## Metrics on the held-out rows (champion: "
             f"{'v' + card['champion_version'] if card['champion_version'] else 'none'})", "",
             "| metric | this version | champion | difference |", "|---|---|---|---|"]
    for r in card["versus_champion"]:
        lines.append(f"| {r['metric']} | {_fmt(r['challenger'])} | {_fmt(r['champion'])} | "
                     f"{_fmt(r['difference'], sign=True)} |")
    if card["oracle"]:
        lines += ["", "## Against the oracle (synthetic world: true probabilities/effects)",
                  "", *[f"- {k}: {_fmt(v)}" for k, v in card["oracle"].items()]]
    if card["calibration"]:
        lines += ["", "## Calibration (deciles of the prediction)", "",
                  "| bin | rows | mean predicted | observed |", "|---|---|---|---|"]
        lines += [f"| {r['bin']} | {r['n']} | {r['mean_predicted']:.4f} | "
                  f"{r['observed_rate']:.4f} |" for r in card["calibration"]]
    if card["feature_importance"]:
        lines += ["", "## Feature importance (gain, top 15)", ""]
        lines += [f"- {r['feature']}: {_fmt(r['gain'])}" for r in card["feature_importance"]]
    if card["slices"]:
        metric = card["promotion"].get("metric", "")
        lines += ["", f"## Quality by {' x '.join(card['slice_by'])}", "",
                  f"| {' | '.join(card['slice_by'])} | rows | {metric} |",
                  "|" + "---|" * (len(card["slice_by"]) + 2)]
        for r in card["slices"]:
            value = _fmt(r.get(metric)) if metric in r else r.get("note", "")
            lines.append(f"| {' | '.join(str(r[c]) for c in card['slice_by'])} | {r['rows']} "
                         f"| {value} |")
    return "\n".join(lines) + "\n"


def _num(value) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _fmt(value, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if sign else (f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}")
