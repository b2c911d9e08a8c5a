"""The governance sections of a campaign file: ``review``, ``controls`` and ``exports``.

Scoring owns the rest of the campaign file and passes these sections through; they are
checked here, strictly (unknown keys are errors naming file and line), because a typo in a
tolerance or a band would silently weaken a control.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segflow.errors import ConfigError, SegflowError
from segflow.governance.revenue_config import RevenueControl
from segflow.settings import Settings
from segflow.yamlio import LineDict, load_yaml

REVIEW_KEYS = {"band": float, "big_mover_tiers": int, "revenue_limit": float,
               "revenue_column": str, "reviewers": list, "approval_required": bool,
               "model_reasons_limit": int}
CONTROLS_KEYS = {"revenue": dict, "max_growth": float, "recheck_contracts": bool}
EXPORTS_KEYS = {"channel_events": list, "global_events": list, "channels": list}
REMOVED_CONTROLS = {  # controls keys of earlier versions: the revenue control names its tables
    key: "the revenue control is configured in controls.revenue now (finance: table, id, "
    "amount, date; tolerance; period_days; or switched_off: REASON), see docs/governance.md"
    for key in ("revenue_tolerance", "revenue_period_days", "revenue_source")}
REMOVED_KEYS = {  # exports keys of earlier versions, and what replaced them
    "cross_channel_suppression": "consent and unsubscribes are per channel now; list the "
    "engagement events that remove a customer from every channel in exports.global_events",
    "suppression_events": "use exports.channel_events (suppress on the event's channel) and "
    "exports.global_events (suppress on every channel)",
}
CHANNELS = ("email", "sms", "push", "ads")
CHANNEL_EVENTS = ("unsubscribe",)   # an unsubscribe from email stops email only
GLOBAL_EVENTS = ("complaint",)      # a complaint stops every channel
MODEL_REASONS_LIMIT = 20_000  # score movers per model given model contributions


@dataclass(frozen=True)
class GovernanceConfig:
    campaign: str
    path: Path | None = None
    owners: tuple[str, ...] = ()
    approval_required: bool = False
    exclusive: bool = True
    cohorts: tuple = ()  # segflow.scoring.campaigns.CohortSpec: name, template, priority, ...
    review: dict = field(default_factory=dict)
    controls: dict = field(default_factory=dict)
    exports: dict = field(default_factory=dict)
    revenue: RevenueControl | None = None  # None only for a config built without a file

    # defaults live here, in one place, and docs/governance.md lists them
    @property
    def band(self) -> float:
        return float(self.review.get("band", 0.05))

    @property
    def big_mover_tiers(self) -> int:
        return int(self.review.get("big_mover_tiers", 2))

    @property
    def revenue_limit(self) -> float | None:
        value = self.review.get("revenue_limit")
        return None if value is None else float(value)

    @property
    def model_reasons_limit(self) -> int:
        return int(self.review.get("model_reasons_limit", MODEL_REASONS_LIMIT))

    @property
    def max_growth(self) -> float:
        return float(self.controls.get("max_growth", 2.0))

    @property
    def channel_events(self) -> tuple[str, ...]:
        """Engagement events that suppress the customer on the event's own channel."""
        return tuple(self.exports.get("channel_events", CHANNEL_EVENTS))

    @property
    def global_events(self) -> tuple[str, ...]:
        """Engagement events that suppress the customer on every channel."""
        return tuple(self.exports.get("global_events", GLOBAL_EVENTS))


def load_config(settings: Settings, campaign: str) -> GovernanceConfig:
    """The campaign file read by scoring's parser plus our sections, checked strictly."""
    from segflow.scoring.campaigns import load_campaign
    from segflow.scoring.schema import Problems

    path = settings.campaigns_dir / f"{campaign}.yaml"
    if not path.exists():
        raise SegflowError(f"no campaign file {path}")
    problems = Problems()
    parsed = load_campaign(path, problems)
    if problems or parsed is None:
        raise problems[0] if problems else ConfigError(path, 1, "cannot read campaign")
    raw = load_yaml(path)
    sections = {name: _section(raw, name, keys, path) for name, keys in
                (("review", REVIEW_KEYS), ("controls", CONTROLS_KEYS),
                 ("exports", EXPORTS_KEYS))}
    _check_values(sections, raw, path)
    from segflow.governance.revenue_config import parse_revenue

    revenue = parse_revenue(settings, raw, path)
    return GovernanceConfig(
        campaign=campaign, path=path, owners=tuple(parsed.owners),
        approval_required=bool(parsed.approval_required
                               or sections["review"].get("approval_required", False)),
        exclusive=parsed.exclusive, cohorts=parsed.cohorts, revenue=revenue, **sections)


def _section(data: dict, name: str, keys: dict, path: Path | None) -> dict:
    raw = data.get(name) or {}
    line = data.lines.get(name) if isinstance(data, LineDict) else None
    if not isinstance(raw, dict):
        raise ConfigError(path, line, f"'{name}' must be a mapping")
    for key, value in raw.items():
        key_line = raw.lines.get(key, line) if isinstance(raw, LineDict) else line
        removed = {"exports": REMOVED_KEYS, "controls": REMOVED_CONTROLS}.get(name, {})
        if key in removed:
            raise ConfigError(path, key_line, f"{name}.{key} was removed: {removed[key]}")
        if key not in keys:
            raise ConfigError(path, key_line, f"unknown key '{key}' in {name}; allowed: "
                              f"{', '.join(sorted(keys))}")
        want = keys[key]
        ok = (isinstance(value, int | float) and not isinstance(value, bool)
              if want is float else isinstance(value, want) and not
              (want is int and isinstance(value, bool)))
        if not ok and not (key == "revenue_limit" and value is None):
            raise ConfigError(path, key_line, f"{name}.{key} must be {want.__name__}, "
                              f"got {value!r}")
    return dict(raw)


def _check_values(sections: dict, data: dict, path: Path | None) -> None:
    def line(section, key):
        raw = data.get(section) or {}
        return raw.lines.get(key) if isinstance(raw, LineDict) else None

    review, exports = sections["review"], sections["exports"]
    if not 0 <= review.get("band", 0) < 1:
        raise ConfigError(path, line("review", "band"), "review.band is a fraction in [0, 1)")
    if review.get("revenue_limit") is not None and not review.get("revenue_column"):
        raise ConfigError(path, line("review", "revenue_limit"), "review.revenue_limit needs "
                          "review.revenue_column: the column a mover's revenue is read from")
    for channel in exports.get("channels", []):
        if channel not in CHANNELS:
            raise ConfigError(path, line("exports", "channels"),
                              f"unknown channel '{channel}'; one of {', '.join(CHANNELS)}")
