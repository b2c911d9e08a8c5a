"""Uplift meta-learners on LightGBM, trained on a randomised treatment/holdout split.

- t_learner: one classifier per arm; uplift = p_treated(x) - p_control(x).
- x_learner: the arms' outcome classifiers impute individual effects (treated: y - mu0(x),
  control: mu1(x) - y); two regressors learn them and are blended with the treatment share
  g: uplift = g * tau0(x) + (1 - g) * tau1(x) (Kuenzel et al. 2019; with randomised arms
  the propensity is the constant g).
- dr_learner: one regressor of the doubly robust pseudo-outcome
  mu1 - mu0 + t (y - mu1) / g - (1 - t) (y - mu0) / (1 - g) (Kennedy 2023).
- r_learner: one regressor of (y - m(x)) / (t - g) weighted by (t - g)^2, m = the mean
  outcome g mu1 + (1 - g) mu0 (Nie & Wager 2021): Robinson's residual-on-residual loss.
- s_learner: one classifier of y on the features plus the arm (and, with ``interactions``,
  each feature again only for the treated: x * t, a category kept only where t = 1), so a
  split may use the treatment anywhere; uplift = p(x, t=1) - p(x, t=0). With interactions
  this is scikit-uplift's SoloModel(method="treatment_interaction").
- class_transformation: one classifier of z = y*t + (1-y)*(1-t), arms re-weighted to 50/50
  so that uplift = 2 P(z=1 | x) - 1 holds for unbalanced arms too (Jaskowski & Jaroszewicz).

Two stages, two regularisations: the outcome classifiers (``outcome_lightgbm``) predict a
response rate with plenty of signal, the effect regressors (``effect_lightgbm``) a difference
a tenth its size, buried in noise; each stage takes its own LightGBM settings, both falling
back to ``lightgbm``. The dr and r learners impute a row with the outcome model of its own
arm; with ``cross_fit: k`` (k >= 2) that model never saw the row (k folds), so the effect
stage does not learn the outcome models' memorised noise as if it were an effect. The
x_learner needs no cross-fitting: each arm's rows are imputed by the *other* arm's model,
which never saw them, so ``cross_fit`` is refused for it.

Any learner may constrain its response models to rise or fall with a feature (``monotone``)
and count each stage's trees on a held-out share of its training rows (``early_stopping``,
then refitted on all rows), so the amount of fitting follows the campaign's data instead of
a hand-set number of trees.

Any learner can be bagged (``bagging: {n, fraction}``: n fits on their own random rows and
seeds, averaged) and ``method: ensemble`` averages several learners (``members``); both are
``AveragedUplift``, whose contributions are the members' means.

Contributions (for explaining memberships) are LightGBM pred_contrib values: for the
x_learner the same blend of the two effect regressors' contributions, for the dr/r learners
the effect regressor's, all exact and on the probability scale; for the t_learner the
treated minus the control classifier's contributions, on the log-odds scale (the s_learner
likewise: its contributions with the arm set to treated minus to control); for class
transformation twice the classifier's contributions in log-odds of z.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from segflow.training.encoding import FeatureEncoder
from segflow.training.explain import top_contributions
from segflow.training.propensity import lgbm_params

METHODS = ("t_learner", "x_learner", "dr_learner", "r_learner", "s_learner",
           "class_transformation")
ENSEMBLE = "ensemble"
ENSEMBLE_KEYS = {"method", "members", "combine"}
#: how an ensemble joins its members: their mean, or the mean of their ranks (see AveragedUplift)
COMBINES = ("mean", "rank")
#: what one learner's params may hold (an ensemble holds method and members only)
MEMBER_KEYS = {"method", "lightgbm", "outcome_lightgbm", "effect_lightgbm", "cross_fit",
               "interactions", "bagging", "monotone", "early_stopping"}
EARLY_STOPPING_KEYS = {"fraction", "rounds"}
CROSS_FITTED = ("dr_learner", "r_learner")
#: the fitted LightGBM models whose contributions make up each method's prediction
EFFECT_PARTS = {"x_learner": ("tau0", "tau1"), "t_learner": ("mu0", "mu1"),
                "dr_learner": ("tau",), "r_learner": ("tau",), "s_learner": ("s",),
                "class_transformation": ("z",)}
TREATED = "__treated__"
ONLY_TREATED = "__if_treated"


class UpliftEstimator:
    """Fitted encoder + meta-learner; predicts the uplift column and explains it."""

    def __init__(self, features: list[str], output: str, method: str,
                 lightgbm: dict | None = None, outcome_lightgbm: dict | None = None,
                 effect_lightgbm: dict | None = None, cross_fit: int = 0,
                 interactions: bool = False, monotone: dict | None = None,
                 early_stopping: dict | None = None):
        if method not in METHODS:
            raise ValueError(f"unknown uplift method {method!r}; use one of {METHODS}")
        if cross_fit == 1 or cross_fit < 0:
            raise ValueError("cross_fit must be 0 (off) or a number of folds >= 2")
        if cross_fit and method not in CROSS_FITTED:
            raise ValueError(f"cross_fit applies to {' and '.join(CROSS_FITTED)} only: the "
                             f"{method} imputes no row with a model that saw it")
        self.encoder = FeatureEncoder(features)
        self.output, self.method, self.cross_fit = output, method, int(cross_fit)
        self.interactions = bool(interactions)
        self.monotone = _monotone(monotone, features)
        self.early_stopping = _early_stopping(early_stopping)
        base = lightgbm or {}
        self.outcome_params = lgbm_params({**base, **(outcome_lightgbm or {})})
        self.effect_params = lgbm_params({**base, **(effect_lightgbm or {})})
        self.lightgbm = self.outcome_params        # kept for code that reads one setting
        self.models: dict = {}
        self.trees_chosen: list[int] = []      # per early-stopped stage, for reports
        self.treated_share = 0.5

    # --- fitting ---------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, y, treatment) -> UpliftEstimator:
        from lightgbm import LGBMClassifier, LGBMRegressor

        X = self.encoder.fit(frame).transform(frame)
        y, t = np.asarray(y, dtype=int), np.asarray(treatment, dtype=int)
        g = self.treated_share = float(t.mean())
        if self.method == "class_transformation":
            z = y * t + (1 - y) * (1 - t)
            w = np.where(t == 1, 0.5 / g, 0.5 / (1 - g))
            self.models["z"] = self._fit(LGBMClassifier, self.outcome_params, X, z, w)
            return self
        if self.method == "t_learner":
            self.models.update(self._outcome_models(X, y, t))
            return self
        if self.method == "s_learner":
            design = self._design(X, t)
            self.models["s"] = self._fit(LGBMClassifier, self._monotone_params(design),
                                         design, y)
            return self
        mu1, mu0 = self._imputed_outcomes(X, y, t)
        effect = LGBMRegressor
        if self.method == "x_learner":
            treated, control = t == 1, t == 0
            self.models["tau1"] = self._fit(effect, self.effect_params, X[treated],
                                            y[treated] - mu0[treated])
            self.models["tau0"] = self._fit(effect, self.effect_params, X[control],
                                            mu1[control] - y[control])
        elif self.method == "dr_learner":
            phi = mu1 - mu0 + t * (y - mu1) / g - (1 - t) * (y - mu0) / (1 - g)
            self.models["tau"] = self._fit(effect, self.effect_params, X, phi)
        else:  # r_learner
            residual_t = t - g
            target = (y - (g * mu1 + (1 - g) * mu0)) / residual_t
            self.models["tau"] = self._fit(effect, self.effect_params, X, target,
                                           residual_t ** 2)
        return self

    def _outcome_models(self, X: pd.DataFrame, y: np.ndarray, t: np.ndarray) -> dict:
        from lightgbm import LGBMClassifier

        params = self._monotone_params(X)
        return {arm: self._fit(LGBMClassifier, params, X[t == a], y[t == a])
                for arm, a in (("mu1", 1), ("mu0", 0))}

    def _fit(self, model, params: dict, X: pd.DataFrame, target, weight=None):
        """One LightGBM stage. With ``early_stopping: {fraction, rounds}`` the number of
        trees is chosen on a random ``fraction`` of these rows held out (the fit stops when
        ``rounds`` trees in a row did not improve the held-out loss), then the stage is
        refitted on all rows with that many trees: ``n_estimators`` becomes a ceiling, so a
        low learning rate cannot overfit a small campaign and need not be tuned by hand."""
        if not self.early_stopping:
            return model(**params).fit(X, target, sample_weight=weight)
        import lightgbm

        target = np.asarray(target)
        rng = np.random.default_rng(params.get("random_state", 7))
        held = rng.random(len(target)) < self.early_stopping["fraction"]
        w = None if weight is None else np.asarray(weight)
        with warnings.catch_warnings():   # 4.7 renames eval_set; >= 4.5 is supported
            warnings.filterwarnings("ignore", message=".*eval_set.*")
            probe = model(**params).fit(
                X[~held], target[~held], sample_weight=None if w is None else w[~held],
                eval_set=[(X[held], target[held])],
                eval_sample_weight=None if w is None else [w[held]],
                callbacks=[lightgbm.early_stopping(self.early_stopping["rounds"],
                                                   verbose=False)])
        trees = max(1, int(probe.best_iteration_ or params.get("n_estimators", 100)))
        self.trees_chosen.append(trees)
        return model(**{**params, "n_estimators": trees}).fit(X, target, sample_weight=weight)

    def _monotone_params(self, design: pd.DataFrame) -> dict:
        """The outcome stage's settings with ``monotone`` as LightGBM's per-column
        constraints: a feature's own column and (S-learner) its treated-only column."""
        if not self.monotone:
            return self.outcome_params
        signs = [self.monotone.get(col.removesuffix(ONLY_TREATED), 0)
                 if col != TREATED else 0 for col in design.columns]
        return {**self.outcome_params, "monotone_constraints": signs}

    def _imputed_outcomes(self, X, y, t) -> tuple[np.ndarray, np.ndarray]:
        """mu1(x), mu0(x) for every training row: in-sample without cross-fitting, else
        each fold predicted by outcome models fitted on the other folds."""
        n = len(y)
        if self.cross_fit < 2:
            models = self._outcome_models(X, y, t)
            return (models["mu1"].predict_proba(X)[:, 1], models["mu0"].predict_proba(X)[:, 1])
        rng = np.random.default_rng(self.outcome_params.get("random_state", 7))
        fold = rng.permutation(n) % self.cross_fit
        mu1, mu0 = np.empty(n), np.empty(n)
        for k in range(self.cross_fit):
            out = fold == k
            models = self._outcome_models(X[~out], y[~out], t[~out])
            mu1[out] = models["mu1"].predict_proba(X[out])[:, 1]
            mu0[out] = models["mu0"].predict_proba(X[out])[:, 1]
        return mu1, mu0

    def _design(self, X: pd.DataFrame, t) -> pd.DataFrame:
        """The S-learner's matrix: features, the arm, and (interactions) every feature
        again for the treated only (numbers times t; categories missing for the control)."""
        t = np.broadcast_to(np.asarray(t, dtype=float), (len(X),))
        design = X.copy()
        design[TREATED] = t
        if self.interactions:
            for col in X.columns:
                if isinstance(X[col].dtype, pd.CategoricalDtype):
                    design[col + ONLY_TREATED] = X[col].where(t == 1)
                else:
                    design[col + ONLY_TREATED] = X[col] * t
        return design

    def _s_arms(self, X: pd.DataFrame, method: str):
        """The S-learner's ``method`` (predict_proba or contributions) as treated, control."""
        model = self.models["s"]
        if method == "proba":
            return (model.predict_proba(self._design(X, 1))[:, 1],
                    model.predict_proba(self._design(X, 0))[:, 1])
        return (model.predict(self._design(X, 1), pred_contrib=True)[:, :-1],
                model.predict(self._design(X, 0), pred_contrib=True)[:, :-1])

    def _per_feature(self, values: np.ndarray) -> np.ndarray:
        """S-learner design columns folded back onto the features: a feature's own column
        plus its treated-only column (the arm column itself is not a feature)."""
        n = len(self.encoder.features)
        out = values[:, :n].copy()
        if self.interactions:
            out += values[:, n + 1: 2 * n + 1]
        return out

    # --- prediction ------------------------------------------------------------------
    def uplift(self, frame: pd.DataFrame) -> np.ndarray:
        X = self.encoder.transform(frame)
        m, g = self.models, self.treated_share
        if self.method == "class_transformation":
            return 2 * m["z"].predict_proba(X)[:, 1] - 1
        if self.method == "x_learner":
            return g * m["tau0"].predict(X) + (1 - g) * m["tau1"].predict(X)
        if self.method == "t_learner":
            return m["mu1"].predict_proba(X)[:, 1] - m["mu0"].predict_proba(X)[:, 1]
        if self.method == "s_learner":
            treated, control = self._s_arms(X, "proba")
            return treated - control
        return m["tau"].predict(X)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({self.output: self.uplift(frame)}, index=frame.index)

    def contribution_matrix(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """Each feature's contribution to the estimated effect (SHAP values of the effect
        model, or the difference of the arms' models), one column per feature."""
        X = self.encoder.transform(frame)
        m, g = self.models, self.treated_share

        def contrib(name):
            return m[name].predict(X, pred_contrib=True)[:, :-1]

        if self.method == "class_transformation":
            values = 2 * contrib("z")
        elif self.method == "x_learner":
            values = g * contrib("tau0") + (1 - g) * contrib("tau1")
        elif self.method == "t_learner":
            values = contrib("mu1") - contrib("mu0")
        elif self.method == "s_learner":
            treated, control = self._s_arms(X, "contrib")
            values = self._per_feature(treated - control)
        else:
            values = contrib("tau")
        return values, list(self.encoder.features)

    def contributions(self, frame: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
        """The top k features of ``contribution_matrix`` per row, with their values."""
        return top_contributions(*self.contribution_matrix(frame), frame, top_k)

    def feature_importance(self) -> pd.Series:
        total = sum(self.models[name].booster_.feature_importance(importance_type="gain")
                    for name in EFFECT_PARTS[self.method])
        if self.method == "s_learner":
            total = self._per_feature(total[None, :])[0]
        return pd.Series(total, index=self.encoder.features).sort_values(ascending=False)


def uplift_estimator(features: list[str], output: str, params: dict,
                     overrides: dict | None = None) -> UpliftEstimator | AveragedUplift:
    """An estimator from a model config's ``params`` (method, lightgbm, outcome_lightgbm,
    effect_lightgbm, cross_fit, interactions, bagging); ``overrides`` (e.g. random_state,
    n_jobs) apply to every stage. ``method: ensemble`` averages the learners under
    ``members`` (name -> params, each possibly bagged; ``combine: rank`` averages their
    training quantiles instead, see AveragedUplift); ``bagging: {n, fraction}`` averages
    n fits of one learner, each on its own random ``fraction`` of the rows (default 0.8)
    and with its own seed (random_state, +1, +2, ...)."""
    if params.get("method") == ENSEMBLE:
        members = params.get("members") or {}
        if not members or set(params) - ENSEMBLE_KEYS:
            raise ValueError("an ensemble needs members (name -> a learner's params) and "
                             "nothing else but combine; bagging goes inside a member")
        if not isinstance(members, dict):
            raise ValueError("an ensemble's members is a mapping: member name -> a learner's "
                             "params (method, lightgbm, ...); a list of names is resolved "
                             "only in a set of named learners (resolve_named)")
        for name, member in members.items():
            if not isinstance(member, dict):
                raise ValueError(f"ensemble member {name} is a mapping of a learner's params "
                                 f"(method, lightgbm, ...), got {member!r}")
            if "method" not in member:
                raise ValueError(f"ensemble member {name} needs a method: one of {METHODS}")
        return AveragedUplift([_member(features, output, member, overrides)
                               for member in members.values()], output,
                              combine=params.get("combine", "mean"))  # checked there
    return _member(features, output, params, overrides)


def resolve_named(learners: dict) -> dict:
    """A set of named learners with each ensemble's ``members: [name, ...]`` replaced by
    those learners' params (name -> params), so an ensemble of settings already compared
    is written once, by name, and cannot drift from them. A name must be a learner of the
    set that is not itself an ensemble."""
    resolved = {}
    for name, params in learners.items():
        members = params.get("members") if isinstance(params, dict) else None
        if not isinstance(members, list) or params.get("method") != ENSEMBLE:
            resolved[name] = params
            continue
        for member in members:
            if member not in learners:
                raise ValueError(f"ensemble {name}: member {member!r} is not a learner of "
                                 f"this set; use one of {', '.join(learners)}")
            if learners[member].get("method") == ENSEMBLE:
                raise ValueError(f"ensemble {name}: member {member!r} is an ensemble; "
                                 "members are single (possibly bagged) learners")
        resolved[name] = {**params, "members": {m: learners[m] for m in members}}
    return resolved


def _member(features: list[str], output: str, params: dict, overrides: dict | None
            ) -> UpliftEstimator | AveragedUplift:
    """One learner, bagged when its params say so."""
    unknown = set(params) - MEMBER_KEYS
    if params.get("method") == ENSEMBLE or "members" in params:
        raise ValueError("an ensemble member is one learner, not another ensemble")
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in uplift params; use "
                         f"{sorted(MEMBER_KEYS)}")
    bagging = params.get("bagging") or {}
    if not isinstance(bagging, dict):
        raise ValueError(f"bagging is a mapping: {{n: fits, fraction: share of the rows}}, "
                         f"got {bagging!r}")
    if not bagging:
        return _single(features, output, params, overrides)
    if set(bagging) - {"n", "fraction"}:
        raise ValueError(f"unknown bagging key(s) {sorted(set(bagging) - {'n', 'fraction'})};"
                         " use n and fraction")
    n = bagging.get("n", 0)
    if not isinstance(n, int) or isinstance(n, bool):
        raise ValueError(f"bagging.n is a whole number of fits (2 or more), got {n!r}")
    fraction = float(bagging.get("fraction", 0.8))
    if n < 2:
        raise ValueError("bagging.n must be at least 2 fits")
    seed = int({**(params.get("lightgbm") or {}), **(overrides or {})}.get("random_state", 7))
    copies = [_single(features, output, params, {**(overrides or {}), "random_state": seed + i})
              for i in range(n)]
    return AveragedUplift(copies, output, fraction, seed)


def _single(features: list[str], output: str, params: dict,
            overrides: dict | None) -> UpliftEstimator:
    stages = {key: {**(params.get(key) or {}), **(overrides or {})} for key in
              ("lightgbm", "outcome_lightgbm", "effect_lightgbm")}
    return UpliftEstimator(features, output, params["method"], stages["lightgbm"],
                           stages["outcome_lightgbm"], stages["effect_lightgbm"],
                           int(params.get("cross_fit", 0)),
                           bool(params.get("interactions", False)),
                           params.get("monotone"), params.get("early_stopping"))


def _monotone(spec: dict | None, features: list[str]) -> dict[str, int]:
    """``monotone: {feature: 1 | -1}``: the response may only rise (1) or fall (-1) with
    the feature, e.g. a visit with past spend; a prior the outcome stage cannot overfit
    against. Constrains the response models only: an effect need not be monotone."""
    spec = dict(spec or {})
    bad = {k: v for k, v in spec.items() if v not in (1, -1)}
    if bad:
        raise ValueError(f"monotone takes feature: 1 (rising) or -1 (falling), got {bad}")
    unknown = sorted(set(spec) - set(features)) if features else []
    if unknown:
        raise ValueError(f"monotone names {unknown}, which are not features of the model")
    return spec


def _early_stopping(spec: dict | None) -> dict:
    """``early_stopping: {fraction: 0.2, rounds: 50}`` checked (empty: off)."""
    if not spec:
        return {}
    spec = dict(spec)
    if set(spec) - EARLY_STOPPING_KEYS:
        raise ValueError(f"unknown early_stopping key(s) "
                         f"{sorted(set(spec) - EARLY_STOPPING_KEYS)}; use fraction and rounds")
    fraction, rounds = float(spec.get("fraction", 0.2)), int(spec.get("rounds", 50))
    if not 0 < fraction < 1 or rounds < 1:
        raise ValueError("early_stopping needs 0 < fraction < 1 and rounds >= 1")
    return {"fraction": fraction, "rounds": rounds}


class AveragedUplift:
    """The mean of several uplift estimators' predictions: ``bagging`` (copies of one
    learner, each fitted on its own random share of the rows with its own LightGBM seed)
    or an ``ensemble`` of different learners (each on every row).

    Why: a campaign's effect is a few points buried in outcome noise, so one fit's ranking
    moves with the seed and the rows it saw about as much as it differs between learners;
    the mean of several fits keeps what they agree on. Contributions are the members' mean
    too, on the members' scales: they add up to the prediction only where each member's do
    (probability-scale learners); S-learner members' are log-odds, and an ensemble mixing
    scales gives figures that rank features but do not sum to the uplift.

    ``combine="rank"``: each member's prediction becomes its quantile among that member's
    predictions on the training rows, the quantiles are averaged, and the mean quantile is
    read back on the training distribution of the members' plain mean. Why: members on
    different scales (a shrunken effect regressor beside an S-learner) weigh equally in the
    ranking, which is all a top-k targeting uses, while the output stays an uplift on the
    plain mean's scale, so a campaign's uplift thresholds keep their meaning. The quantiles
    come from the training rows, never the scored batch, so a customer's score does not
    depend on who else is scored with them.
    """

    def __init__(self, members: list[UpliftEstimator], output: str, fraction: float = 1.0,
                 seed: int = 7, combine: str = "mean"):
        if not members:
            raise ValueError("an averaged uplift model needs at least one member")
        if not 0 < fraction <= 1:
            raise ValueError(f"bagging fraction must be in (0, 1], got {fraction}")
        if combine not in COMBINES:
            raise ValueError(f"combine is one of {', '.join(COMBINES)}, got {combine!r}")
        self.members, self.output = members, output
        self.fraction, self.seed = float(fraction), int(seed)
        self.combine = combine
        self.encoder = members[0].encoder
        #: (combine="rank") each member's and the plain mean's training quantiles
        self.quantiles: list[tuple[np.ndarray, np.ndarray]] = []
        self.mean_quantiles: tuple[np.ndarray, np.ndarray] | None = None

    def fit(self, frame: pd.DataFrame, y, treatment) -> AveragedUplift:
        y, t = np.asarray(y, dtype=int), np.asarray(treatment, dtype=int)
        rng = np.random.default_rng(self.seed)
        n = len(y)
        for member in self.members:
            rows = np.arange(n)
            if self.fraction < 1:
                rows = np.sort(rng.choice(n, size=max(1, round(self.fraction * n)),
                                          replace=False))
            member.fit(frame.iloc[rows], y[rows], t[rows])
        if self.combine == "rank":
            each = [member.uplift(frame) for member in self.members]
            self.quantiles = [_quantiles(u) for u in each]
            self.mean_quantiles = _quantiles(np.mean(each, axis=0))
        return self

    def uplift(self, frame: pd.DataFrame) -> np.ndarray:
        each = [member.uplift(frame) for member in self.members]
        if self.combine == "mean":
            return np.mean(each, axis=0)
        rank = np.mean([np.interp(u, values, q)
                        for u, (values, q) in zip(each, self.quantiles, strict=True)], axis=0)
        values, q = self.mean_quantiles
        return np.interp(rank, q, values)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({self.output: self.uplift(frame)}, index=frame.index)

    def contribution_matrix(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """The members' contribution matrices averaged (same features, same order)."""
        values = np.mean([member.contribution_matrix(frame)[0] for member in self.members],
                         axis=0)
        return values, list(self.encoder.features)

    def contributions(self, frame: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
        return top_contributions(*self.contribution_matrix(frame), frame, top_k)

    def feature_importance(self) -> pd.Series:
        total = sum(member.feature_importance() for member in self.members)
        return total.sort_values(ascending=False)


def _quantiles(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``u`` and each one's mid-rank quantile in (0, 1) (ties share
    the middle of their ranks): both strictly increasing, so ``np.interp`` maps a value to
    its quantile and back, piecewise linearly between the training rows' values."""
    values, counts = np.unique(np.asarray(u, dtype=float), return_counts=True)
    below = np.cumsum(counts) - counts
    return values, (below + counts / 2) / counts.sum()
