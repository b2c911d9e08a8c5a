"""Real-data evaluation of the uplift learners on the Hillstrom (MineThatData) e-mail data.

The protocol is the one scikit-uplift's users publish figures with: each e-mail arm against
No E-Mail, a 50/50 split that is *not* stratified, redrawn for every seed, uplift@30%
(``overall``) and the normalised Qini coefficient. Our learners and the scikit-uplift peers
are fitted on the same split of every seed, so differences are paired: the evaluation
reports each learner's mean and standard deviation over the seeds and its mean paired
difference against the best learner, which is what a choice between learners rests on. A
single split is never enough: the standard deviation over splits (~0.006 uplift@30%) is as
large as the differences between good learners.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from segflow.errors import SegflowError
from segflow.settings import Settings
from segflow.training.uplift import resolve_named, uplift_estimator
from segflow.training.uplift_metrics import qini_auc_score, uplift_at_k
from segflow.yamlio import load_yaml

CONFIG_PATH = Path(__file__).with_name("hillstrom.yaml")
OUTCOMES = ("visit", "conversion")
METRICS = ("uplift_at_30", "qini_auc")


def data_path(settings: Settings) -> Path:
    """Where the Hillstrom CSV is read from: ``../shared/data/hillstrom.csv`` beside the
    project (never copied into it). The one place this path is decided."""
    return settings.project_root.parent / "shared" / "data" / "hillstrom.csv"


def load_setup(path: Path = CONFIG_PATH) -> dict:
    """Arms, features, protocol, our learners and the peers, from hillstrom.yaml; an
    ensemble's ``members: [name, ...]`` become those learners' params."""
    setup = dict(load_yaml(path))
    try:
        setup["learners"] = resolve_named(dict(setup["learners"]))
    except ValueError as err:
        raise SegflowError(f"{path}: {err}") from None
    return setup


def only_learners(setup: dict, names: list[str]) -> dict:
    """The setup with only the named learners and peers (all of them when none is named)."""
    if not names:
        return setup
    known = [*setup["learners"], *(setup.get("peers") or {})]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SegflowError(f"--learner {unknown[0]!r}: use one of {', '.join(known)}")
    return {**setup,
            "learners": {k: v for k, v in setup["learners"].items() if k in names},
            "peers": {k: v for k, v in (setup.get("peers") or {}).items() if k in names}}


def read_hillstrom(path: Path) -> pd.DataFrame:
    if not Path(path).exists():
        raise SegflowError(f"Hillstrom data not found at {path}; place the MineThatData CSV "
                           "there (see ../shared/README.md) to run this evaluation")
    return pd.read_csv(path)


def arm_data(data: pd.DataFrame, setup: dict, arm: str, outcome: str
             ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features, outcome and treatment (1 = the e-mail arm) of one arm against control."""
    pair = setup["arms"][arm]
    rows = data[data["segment"].isin([pair["treatment"], setup["control"]])]
    rows = rows.reset_index(drop=True)
    treatment = (rows["segment"] == pair["treatment"]).to_numpy(dtype=int)
    return rows[setup["features"]], rows[outcome].to_numpy(dtype=int), treatment


def split(n: int, seed: int, test_size: float) -> tuple[np.ndarray, np.ndarray]:
    """The peers' split: sklearn's unstratified shuffle split with the seed."""
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(n), test_size=test_size, random_state=seed)


def peer_uplift(spec: dict, lightgbm: dict, X_train, y, t, X_test, seed: int) -> np.ndarray:
    """A scikit-uplift model (SoloModel, TwoModels, ClassTransformation) on LightGBM,
    fitted and scored the way its documentation does (one-hot features)."""
    from lightgbm import LGBMClassifier
    from sklift import models

    def clf():
        return LGBMClassifier(**{"verbose": -1, "n_jobs": 1, **lightgbm, "random_state": seed})

    kind = spec["model"]
    if kind == "two_models":
        model = models.TwoModels(clf(), clf(), method=spec.get("method", "vanilla"))
    elif kind == "solo_model":
        model = models.SoloModel(clf(), method=spec.get("method", "dummy"))
    elif kind == "class_transformation":
        model = models.ClassTransformation(clf())
    else:
        raise SegflowError(f"hillstrom.yaml: unknown peer model {kind!r}")
    model.fit(X_train, y, t)
    return np.asarray(model.predict(X_test), dtype=float)


def one_hot(X: pd.DataFrame) -> pd.DataFrame:
    """Categories as 0/1 columns, renamed f0..fn (LightGBM refuses '$' in a name)."""
    encoded = pd.get_dummies(X, dtype=float)
    return encoded.set_axis([f"f{i}" for i in range(encoded.shape[1])], axis=1)


def evaluate_seed(X, y, t, seed: int, setup: dict) -> list[dict]:
    """Every learner and peer fitted on the same split of one seed; metrics on its test half."""
    idx_train, idx_test = split(len(y), seed, float(setup["protocol"]["test_size"]))
    k = float(setup["protocol"]["k"])
    yt, tt = y[idx_test], t[idx_test]
    predictions = {}
    for name, params in setup["learners"].items():
        # one thread per model: on a shared machine LightGBM's threads wait on each other
        model = uplift_estimator(list(X.columns), "uplift", params,
                                 {"random_state": seed, "n_jobs": 1})
        model.fit(X.iloc[idx_train], y[idx_train], t[idx_train])
        predictions[name] = model.uplift(X.iloc[idx_test])
    encoded = one_hot(X)
    for name, spec in (setup.get("peers") or {}).items():
        predictions[name] = peer_uplift(spec, setup["peer_lightgbm"], encoded.iloc[idx_train],
                                        y[idx_train], t[idx_train], encoded.iloc[idx_test],
                                        seed)
    return [{"learner": name, "seed": seed, "peer": name in (setup.get("peers") or {}),
             "uplift_at_30": uplift_at_k(yt, u, tt, "overall", k),
             "qini_auc": qini_auc_score(yt, u, tt)} for name, u in predictions.items()]


def evaluate(data: pd.DataFrame, setup: dict, arm: str, outcome: str,
             seeds: list[int]) -> pd.DataFrame:
    """Per-seed metrics of every learner on one arm (long frame)."""
    if outcome not in OUTCOMES:
        raise SegflowError(f"--outcome must be one of {list(OUTCOMES)}, got {outcome!r}")
    X, y, t = arm_data(data, setup, arm, outcome)
    rows = [row for seed in seeds for row in evaluate_seed(X, y, t, seed, setup)]
    return pd.DataFrame(rows).assign(arm=arm, outcome=outcome)


def summarise(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds per learner, and for each metric the mean paired difference
    against the learner with the best mean (and the sd of that difference over seeds)."""
    wide = {m: per_seed.pivot(index="seed", columns="learner", values=m) for m in METRICS}
    out = pd.DataFrame(index=wide[METRICS[0]].columns)
    out["peer"] = per_seed.groupby("learner")["peer"].first()
    for m, table in wide.items():
        best = table.mean().idxmax()
        diff = table.sub(table[best], axis=0)
        out[f"{m}_mean"], out[f"{m}_sd"] = table.mean(), table.std()
        out[f"{m}_vs_best"], out[f"{m}_vs_best_sd"] = diff.mean(), diff.std()
    out["seeds"] = wide[METRICS[0]].notna().sum()
    return out.sort_values("uplift_at_30_mean", ascending=False).reset_index(names="learner")


def format_summary(summary: pd.DataFrame, title: str) -> str:
    """The printed table: one line per learner, figures to four decimals."""
    lines = [title, f"{'learner':38s} {'uplift@30%':>16s} {'vs best':>17s} "
                    f"{'Qini':>16s} {'vs best':>17s}"]
    for r in summary.itertuples():
        name = f"{r.learner}{' (peer)' if r.peer else ''}"
        lines.append(
            f"{name:38s} {r.uplift_at_30_mean:8.4f} ±{r.uplift_at_30_sd:.4f} "
            f"{r.uplift_at_30_vs_best:+8.4f} ±{r.uplift_at_30_vs_best_sd:.4f} "
            f"{r.qini_auc_mean:8.4f} ±{r.qini_auc_sd:.4f} "
            f"{r.qini_auc_vs_best:+8.4f} ±{r.qini_auc_vs_best_sd:.4f}")
    return "\n".join(lines)
