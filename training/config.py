"""Model configuration: one YAML file per model in ``training/models/``, validated strictly.

Every mistake is reported with the file and line of the offending key, so a data scientist
who mistypes ``min_improvment`` learns where, instead of silently training with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segflow.errors import ConfigError
from segflow.yamlio import LineDict, load_yaml

KINDS = ("propensity", "uplift", "cluster", "anomaly", "notes")
ENTITIES = ("customer", "account")
REQUIRED = ("name", "kind", "entity", "description", "owner", "params", "promotion", "outputs")
OPTIONAL = ("feature_service", "features", "label", "split", "card", "notes_table")
LABEL_KEYS = {"campaign", "outcome", "table", "truth"}
PROMOTION_KEYS = {"metric", "higher_is_better", "min_improvement", "approval", "approvers"}
APPROVALS = ("automatic", "manual")
CARD_KEYS = {"slice_by"}
SPLIT_KEYS = {"test_fraction", "seed", "max_rows"}
#: the parameters each kind understands; anything else is a typo worth an error
KIND_PARAMS = {
    "propensity": {"lightgbm"},
    "uplift": {"method", "lightgbm", "outcome_lightgbm", "effect_lightgbm", "cross_fit",
               "interactions", "bagging", "members", "combine", "monotone", "early_stopping"},
    "cluster": {"k", "max_rows", "seed", "dbscan", "describe_top"},
    "anomaly": {"peer_group", "bands", "log_features", "score", "min_peers", "contamination",
                "n_estimators", "top_reasons", "seed", "max_rows"},
    "notes": {"method", "topics", "min_margin", "min_similarity_margin", "min_reviewed",
              "min_probability_margin", "max_features", "ngram_max", "C"},
}
UPLIFT_METHODS = ("t_learner", "x_learner", "dr_learner", "r_learner", "s_learner",
                  "class_transformation", "ensemble")


@dataclass(frozen=True)
class ModelConfig:
    """One model's configuration, as read from its YAML file."""

    name: str
    kind: str
    entity: str
    description: str
    owner: str
    params: dict
    promotion: dict
    outputs: list[str]
    path: Path
    feature_service: str | None = None
    features: list[str] = field(default_factory=list)
    label: dict = field(default_factory=dict)
    split: dict = field(default_factory=lambda: {"test_fraction": 0.3, "seed": 42})
    card: dict = field(default_factory=dict)
    notes_table: str | None = None  # notes models: the canonical table of the notes

    @property
    def tables(self) -> list[str]:
        """Canonical tables the model reads beyond its entity's: the outcomes table its
        labels come from (propensity, uplift) or its notes table (notes)."""
        if self.kind in ("propensity", "uplift"):
            return [self.label["table"]]
        return [self.notes_table] if self.kind == "notes" else []

    @property
    def join_key(self) -> str:
        return f"{self.entity}_id"

    def param(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    @property
    def slice_by(self) -> list[str]:
        """Columns whose combinations the model card scores separately."""
        return list(self.card.get("slice_by") or [])

    @property
    def manual_promotion(self) -> bool:
        """A better challenger waits for a named approver instead of being promoted."""
        return self.promotion.get("approval") == "manual"


def _check_keys(doc: LineDict, allowed: set, where: str, path: Path) -> None:
    for key in doc:
        if key not in allowed:
            raise ConfigError(path, doc.line(key),
                              f"unknown key '{key}' in {where}; allowed: {sorted(allowed)}")


def _mapping(doc: LineDict, key: str, path: Path) -> LineDict:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise ConfigError(path, doc.line(key), f"'{key}' must be a mapping")
    return value if isinstance(value, LineDict) else LineDict(value)


def _str_list(doc: LineDict, key: str, path: Path) -> list[str]:
    value = doc.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(path, doc.line(key), f"'{key}' must be a non-empty list of names")
    return value


def _check_promotion(doc: LineDict, path: Path) -> dict:
    promo = _mapping(doc, "promotion", path)
    _check_keys(promo, PROMOTION_KEYS, "promotion", path)
    if not isinstance(promo.get("metric"), str):
        raise ConfigError(path, promo.line("metric"), "promotion.metric must name a metric")
    if not isinstance(promo.get("higher_is_better", True), bool):
        raise ConfigError(path, promo.line("higher_is_better"), "must be true or false")
    gain = promo.get("min_improvement", 0.0)
    if isinstance(gain, bool) or not isinstance(gain, int | float) or gain < 0:
        raise ConfigError(path, promo.line("min_improvement"), "must be a number >= 0")
    approval = promo.get("approval", "automatic")
    if approval not in APPROVALS:
        raise ConfigError(path, promo.line("approval"),
                          f"promotion.approval must be one of {list(APPROVALS)}")
    approvers = promo.get("approvers", [])
    if not isinstance(approvers, list) or not all(isinstance(a, str) for a in approvers):
        raise ConfigError(path, promo.line("approvers"), "promotion.approvers must be a list "
                          "of names")
    if approval == "manual" and not approvers:
        raise ConfigError(path, promo.line("approval"), "manual promotion needs "
                          "promotion.approvers: the people who may promote")
    return {"metric": promo["metric"], "higher_is_better": promo.get("higher_is_better", True),
            "min_improvement": float(gain), "approval": approval, "approvers": approvers}


def _check_kind_specific(doc: LineDict, kind: str, path: Path) -> None:
    params = _mapping(doc, "params", path)
    _check_keys(params, KIND_PARAMS[kind], f"params of a {kind} model", path)
    if kind == "uplift" and params.get("method") not in UPLIFT_METHODS:
        raise ConfigError(path, params.line("method"),
                          f"params.method must be one of {list(UPLIFT_METHODS)}")
    if kind == "uplift":
        _check_uplift(params, path)
    if kind in ("propensity", "uplift"):
        label = _mapping(doc, "label", path) if "label" in doc else LineDict()
        if not {"table", "campaign", "outcome"} <= set(label):
            raise ConfigError(path, doc.line("label"), f"a {kind} model needs label: {{table, "
                              "campaign, outcome}: the canonical table of campaign outcomes, "
                              "the past campaign it learns from and its outcome column")
    if kind == "notes" and not {"table", "outcome"} <= set(doc.get("label") or {}):
        raise ConfigError(path, doc.line("label"), "a notes model needs label: {table, outcome}")
    if kind == "notes":
        if not isinstance(doc.get("notes_table"), str):
            raise ConfigError(path, doc.line("notes_table"), "a notes model needs "
                              "notes_table: the canonical table of notes (note_id, account_id, "
                              "note_ts, text)")
        _check_topics(params, path)
    elif "notes_table" in doc:
        raise ConfigError(path, doc.line("notes_table"), "notes_table is for notes models only")


def _check_uplift(params: LineDict, path: Path) -> None:
    """Bagging and ensemble members are checked by building the (unfitted) estimator, so a
    mistake inside them is reported here with the file, not at training time."""
    from segflow.training.uplift import uplift_estimator

    try:
        uplift_estimator([], "check", dict(params))
    except ValueError as err:
        keys = [k for k in ("members", "combine", "bagging", "cross_fit", "monotone",
                            "early_stopping")
                if k in params]
        key = next((k for k in keys if k in str(err)), keys[0] if keys else "method")
        raise ConfigError(path, params.line(key), str(err)) from None


NOTES_METHODS = ("rules", "embedding")


def _check_topics(params: LineDict, path: Path) -> None:
    """Each notes topic: a name, a description for people (what the embedding method
    compares notes with), and the phrases that signal it (what the rules count; optional
    with ``method: embedding``)."""
    method = params.get("method", "rules")
    if method not in NOTES_METHODS:
        raise ConfigError(path, params.line("method"), f"unknown notes method {method!r}; "
                          f"one of {', '.join(NOTES_METHODS)}")
    topics = params.get("topics")
    if not isinstance(topics, list) or not topics:
        raise ConfigError(path, params.line("topics"), "a notes model needs params.topics: "
                          "a list of {topic, description, phrases}")
    required = {"topic", "description"} | ({"phrases"} if method == "rules" else set())
    for item in topics:
        line = getattr(item, "start_line", params.line("topics"))
        if not isinstance(item, dict) or not required <= set(item) <= {
                "topic", "description", "phrases"}:
            raise ConfigError(path, line, "each topic needs exactly topic, description and "
                              "phrases" + (" (phrases optional with method: embedding)"
                                           if method == "embedding" else ""))
        if not isinstance(item["description"], str) or not item["description"].strip():
            raise ConfigError(path, line, f"topic {item['topic']!r}: the description says "
                              "in words what the topic is")
        if "phrases" not in item:
            continue
        phrases = item["phrases"]
        if not isinstance(phrases, list) or not phrases or not all(
                isinstance(p, str) and p.strip() for p in phrases):
            raise ConfigError(path, line, f"topic {item['topic']!r}: phrases must be a "
                              "non-empty list of words or phrases")


def parse_model_config(doc: Any, path: Path) -> ModelConfig:
    """Validate one parsed YAML document; raises ConfigError naming file and line."""
    if not isinstance(doc, dict):
        raise ConfigError(path, 1, "a model file must be a mapping")
    doc = doc if isinstance(doc, LineDict) else LineDict(doc)
    _check_keys(doc, set(REQUIRED) | set(OPTIONAL), "the model file", path)
    for key in REQUIRED:
        if key not in doc:
            raise ConfigError(path, doc.start_line, f"missing required key '{key}'")
    if doc["name"] != path.stem:
        raise ConfigError(path, doc.line("name"), f"name '{doc['name']}' must equal the file "
                          f"name '{path.stem}'")
    for key, allowed in (("kind", KINDS), ("entity", ENTITIES)):
        if doc[key] not in allowed:
            raise ConfigError(path, doc.line(key), f"{key} must be one of {list(allowed)}")
    if ("feature_service" in doc) == ("features" in doc):
        raise ConfigError(path, doc.start_line, "give exactly one of feature_service, features")
    features = _str_list(doc, "features", path) if "features" in doc else []
    for key, allowed in (("label", LABEL_KEYS), ("split", SPLIT_KEYS), ("card", CARD_KEYS)):
        if key in doc:
            _check_keys(_mapping(doc, key, path), allowed, key, path)
    if "card" in doc and "slice_by" in doc["card"]:
        _str_list(_mapping(doc, "card", path), "slice_by", path)
    _check_kind_specific(doc, doc["kind"], path)
    split = {"test_fraction": 0.3, "seed": 42, **(doc.get("split") or {})}
    if not 0 < split["test_fraction"] < 1:
        raise ConfigError(path, doc.line("split"), "split.test_fraction must be in (0, 1)")
    cap = split.get("max_rows")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ConfigError(path, doc.line("split"), "split.max_rows must be a whole number "
                          ">= 1: the most training rows brought to the driver (a stable "
                          "sample by the entity key's hash), or left out for every row")
    return ModelConfig(
        name=doc["name"], kind=doc["kind"], entity=doc["entity"],
        description=str(doc["description"]), owner=str(doc["owner"]),
        params=dict(doc["params"]), promotion=_check_promotion(doc, path),
        outputs=_str_list(doc, "outputs", path), path=path,
        feature_service=doc.get("feature_service"), features=features,
        label=dict(doc.get("label") or {}), split=split, card=dict(doc.get("card") or {}),
        notes_table=doc.get("notes_table"),
    )


def load_model_config(path: str | Path) -> ModelConfig:
    path = Path(path)
    return parse_model_config(load_yaml(path), path)


def load_model_configs(directory: Path, names: list[str] | None = None) -> list[ModelConfig]:
    """All model files of a directory (sorted), or the named ones; unknown names are errors."""
    configs = [load_model_config(p) for p in sorted(Path(directory).glob("*.yaml"))]
    if names:
        known = {c.name for c in configs}
        missing = [n for n in names if n not in known]
        if missing:
            raise ConfigError(directory, None, f"no model file for {missing}; known: "
                              f"{sorted(known)}")
        configs = [c for c in configs if c.name in names]
    return configs
