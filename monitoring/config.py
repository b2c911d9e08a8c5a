"""The ``drift:``, ``bias:`` and ``feedback:`` sections of a campaign file.

Thresholds belong to the campaign, not to the code: a flash sale tolerates more movement than
a finance-led refresh. Each section is optional; a missing one means the defaults below. A bad
value raises ``ConfigError`` naming the campaign file and the line of the offending key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from segflow.errors import ConfigError
from segflow.settings import Settings
from segflow.yamlio import LineDict, load_yaml

REFERENCE_KINDS = ("last_published", "previous", "training")
CORRECTIONS = ("holm", "bonferroni", "fdr_bh")


@dataclass(frozen=True)
class DriftConfig:
    max_drifted_share: float = 0.3      # share of drifted features (and of scores) that blocks
    max_composition_shift: float = 0.05  # absolute change of any cohort's population share
    max_cohort_psi: float = 0.25         # PSI of a mix attribute / key feature inside a cohort
    sample_size: int = 100_000           # rows per side given to Evidently
    seed: int = 0
    reference: str = "last_published"    # last_published | previous | training | a run id
    training_snapshot: str | None = None  # Parquet path used when reference is 'training'
    features: list | None = None         # None: every numeric/bool/low-cardinality column
    scores: list | None = None           # None: `outputs` of training/models/*.yaml
    mix_attributes: list = field(default_factory=lambda: ["region_zone", "preferred_language"])
    key_features: list = field(default_factory=lambda: [
        "engagement_score", "monetary_365d", "recency_days", "holi_propensity"])
    method: str | None = None            # Evidently stat test for every column; None = auto
    threshold: float | None = None       # its threshold; None = the method's default
    min_cohort_size: int = 30            # smaller cohorts are reported but never flagged


@dataclass(frozen=True)
class BiasConfig:
    attributes: list = field(default_factory=lambda: ["region_zone", "preferred_language"])
    max_disparity: float = 1.25   # flag a group over- or under-represented by this ratio
    min_population_share: float = 0.01  # ignore attribute values rarer than this
    group_by: str = "template"    # template | cohort (split cohorts are trivially skewed)
    blocks: bool = False          # bias flags also block publication


@dataclass(frozen=True)
class FeedbackConfig:
    campaign_id: str | None = None  # campaign_id in campaign_outcomes; default: campaign name
    run: str | None = None          # run whose memberships define the cohorts
    bau_cohort: str | None = None   # cohort/template that is the business-as-usual baseline
    splits: list = field(default_factory=lambda: ["region", "preferred_language"])
    bau_list: str | None = None     # CSV/Parquet of customer_id: the BAU cohort as a list
    survey_window_days: int = 30
    confidence: float = 0.95
    correction: str = "holm"        # multiple comparisons: holm | bonferroni | fdr_bh
    sequential_tau: float = 0.01    # always-valid intervals tuned to a lift of this size
    min_customers: int = 30         # per arm; smaller groups are shown, never tested


@dataclass(frozen=True)
class MonitoringConfig:
    path: Path | None
    drift: DriftConfig
    bias: BiasConfig
    feedback: FeedbackConfig


def campaign_path(settings: Settings, campaign: str) -> Path:
    return settings.campaigns_dir / f"{campaign}.yaml"


def load_monitoring_config(settings: Settings, campaign: str) -> MonitoringConfig:
    """Read the three sections; a campaign without a file (e.g. last year's) gets defaults."""
    path = campaign_path(settings, campaign)
    doc = load_yaml(path) if path.exists() else LineDict()
    if not isinstance(doc, dict):
        raise ConfigError(path, 1, "a campaign file must be a mapping")
    return MonitoringConfig(
        path=path if path.exists() else None,
        drift=_section(path, doc, "drift", DriftConfig),
        bias=_section(path, doc, "bias", BiasConfig),
        feedback=_section(path, doc, "feedback", FeedbackConfig),
    )


def _section(path: Path, doc: dict, name: str, cls):
    raw = doc.get(name) or {}
    if not isinstance(raw, dict):
        raise ConfigError(path, _line(doc, name), f"'{name}:' must be a mapping")
    known = {f.name: f for f in fields(cls)}
    defaults = cls()
    values = {}
    for key, value in raw.items():
        line = _line(raw, key)
        if key not in known:
            raise ConfigError(path, line, f"unknown key '{name}.{key}' (known: "
                              f"{', '.join(sorted(known))})")
        values[key] = _check(path, line, f"{name}.{key}", value, getattr(defaults, key))
    config = cls(**values)
    _validate(path, raw, name, config)
    return config


def _line(mapping, key) -> int | None:
    return mapping.line(key) if isinstance(mapping, LineDict) else None


def _check(path, line, key, value, default):
    """Type-check one value against its default's type (None defaults accept str/list/num)."""
    if value is None:
        return None
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, list) or key.endswith(("features", "scores")):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(path, line, f"'{key}' has the wrong type: {value!r}")
    return value


def _validate(path, raw, name, config) -> None:
    """Range checks a type check cannot express."""
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise ConfigError(path, _line(raw, f.name), f"'{name}.{f.name}' must be >= 0")
    if name == "drift" and config.sample_size < 100:
        raise ConfigError(path, _line(raw, "sample_size"), "'drift.sample_size' must be >= 100")
    if name == "bias" and config.max_disparity <= 1:
        raise ConfigError(path, _line(raw, "max_disparity"), "'bias.max_disparity' must be > 1")
    if name == "bias" and config.group_by not in ("template", "cohort"):
        raise ConfigError(path, _line(raw, "group_by"), "'bias.group_by' is template or cohort")
    if name == "feedback" and config.correction not in CORRECTIONS:
        raise ConfigError(path, _line(raw, "correction"), "'feedback.correction' is one of "
                          f"{', '.join(CORRECTIONS)}")
    if name == "feedback" and not 0 < config.sequential_tau:
        raise ConfigError(path, _line(raw, "sequential_tau"),
                          "'feedback.sequential_tau' must be > 0 (a lift, e.g. 0.01)")
    if name == "feedback" and not 0.5 < config.confidence < 1:
        raise ConfigError(path, _line(raw, "confidence"),
                          "'feedback.confidence' must be between 0.5 and 1")
