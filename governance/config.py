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
               "model_reasons_limit": int, "note_topics": dict}
NOTE_TOPICS_KEYS = {"column": str, "route": list, "max_age_days": int}
CONTROLS_KEYS = {"revenue": dict, "max_growth": float, "recheck_contracts": bool}
EXPORTS_KEYS = {"channel_events": list, "global_events": list, "channels": list,
                "handoff": dict, "recipients": dict}
RECIPIENTS_KEYS = {"column": str, "through": dict}
THROUGH_KEYS = ("table", "id", "entity")
HANDOFF_KEYS = {"table": str, "id": str, "owner": str, "channel": str}
HANDOFF_CHANNEL = "account_manager"  # the channel whose cohorts are handed to owners
CURATED_KEYS = {"priority": int, "title": str, "channels": list}
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
class CuratedSpec:
    """A hand-curated cohort the campaign declares: its place among the template cohorts
    (``priority``, lower wins in an exclusive campaign), title and channels. Its ids, owner,
    reason and expiry are uploaded with ``segflow cohorts curate``, versioned in the
    workspace."""

    name: str
    priority: int
    title: str
    channels: tuple[str, ...]


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
    curated: tuple[CuratedSpec, ...] = ()  # hand-curated cohorts (segflow.governance.curated)

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
    def note_topics(self) -> dict | None:
        """``review.note_topics`` (checked by ``_check_note_topics``): the score column
        holding the topic of each account's latest note, the topics that raise a review item
        routed to the owners named for them, and how old a routed note may be (None: any)."""
        return self.review.get("note_topics")

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

    @property
    def recipients(self) -> dict | None:
        """``exports.recipients`` (checked by ``_check_recipients``): when the people
        reached are not the entities segmented (B2B: the contacts of each account), the
        customers ``column`` naming each person's entity, and optionally the table it goes
        ``through`` to reach the entity (an account hierarchy: ``table``, its ``id`` matching
        the column, its ``entity`` column); None: the entity is the customer."""
        return self.exports.get("recipients")


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
    curated = _curated(raw, parsed, path)
    config = GovernanceConfig(
        campaign=campaign, path=path, owners=tuple(parsed.owners),
        approval_required=bool(parsed.approval_required
                               or sections["review"].get("approval_required", False)),
        exclusive=parsed.exclusive, cohorts=parsed.cohorts, revenue=revenue, curated=curated,
        **sections)
    handoff_config(config)  # a typo in the hand-off stops the refresh, not the export
    return config


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
    if "note_topics" in review:
        _check_note_topics(review["note_topics"], path, line("review", "note_topics"))
    if "recipients" in exports:
        _check_recipients(exports["recipients"], path, line("exports", "recipients"))
    for channel in exports.get("channels", []):
        if channel not in CHANNELS:
            raise ConfigError(path, line("exports", "channels"),
                              f"unknown channel '{channel}'; one of {', '.join(CHANNELS)}")


def _check_recipients(raw: dict, path: Path | None, line: int | None) -> None:
    """``exports.recipients``: ``column`` (required) and ``through`` (``table``, ``id``,
    ``entity``, all required). That the columns exist is checked at export, against the
    canonical tables (``segflow.governance.exports``)."""
    unknown = set(raw) - set(RECIPIENTS_KEYS)
    through = raw.get("through", {})
    if unknown or not isinstance(raw.get("column"), str) or not isinstance(through, dict) or (
            "through" in raw and (set(through) != set(THROUGH_KEYS) or not all(
                isinstance(v, str) for v in through.values()))):
        raise ConfigError(path, line, "exports.recipients needs column: the customers column "
                          "naming each person's entity (e.g. account_id), and optionally "
                          "through: {table, id, entity} (a hierarchy mapping that column to "
                          f"the entity), each a name; got {dict(raw)!r}")


def _check_note_topics(raw: dict, path: Path | None, line: int | None) -> None:
    """``review.note_topics``: column (required), route (topics, required), max_age_days.
    Whether the column is a notes model's output and the topics are that model's is checked
    when a run is governed (``segflow.governance.notes``): the models live elsewhere."""
    for key, value in raw.items():
        where = raw.lines.get(key, line) if isinstance(raw, LineDict) else line
        want = NOTE_TOPICS_KEYS.get(key)
        if want is None:
            raise ConfigError(path, where, f"unknown key '{key}' in review.note_topics; "
                              f"allowed: {', '.join(sorted(NOTE_TOPICS_KEYS))}")
        if not isinstance(value, want) or isinstance(value, bool) or (
                want is list and not all(isinstance(v, str) for v in value)) or (
                want is int and value < 1):
            raise ConfigError(path, where, f"review.note_topics.{key} must be "
                              + ("a list of topic names" if want is list else
                                 "a whole number of days, 1 or more" if want is int else
                                 "a column name") + f", got {value!r}")
    missing = [k for k in ("column", "route") if k not in raw]
    if missing:
        raise ConfigError(path, line, f"review.note_topics needs {' and '.join(missing)}: the "
                          "notes model's topic column and the topics that go to review")


def _curated(data: dict, parsed, path: Path | None) -> tuple[CuratedSpec, ...]:
    """The ``curated:`` section: cohort name -> priority (required), title, channels. Names
    and priorities must differ from the template cohorts' (a tie would leave the order of
    an account in both to chance); only exclusive campaigns place a list by priority."""
    raw = data.get("curated") or {}
    line = data.lines.get("curated") if isinstance(data, LineDict) else None
    if not isinstance(raw, dict):
        raise ConfigError(path, line, "'curated' maps cohort names to {priority, title, "
                          "channels}")
    if raw and not parsed.exclusive:
        raise ConfigError(path, line, "curated cohorts take a priority among the template "
                          "cohorts: only an exclusive campaign (exclusive: true) can have them")
    taken = {c.name: c.priority for c in parsed.cohorts}
    out = []
    for name, spec in raw.items():
        where = raw.lines.get(name, line) if isinstance(raw, LineDict) else line
        if not isinstance(spec, dict):
            raise ConfigError(path, where, f"curated.{name} must be a mapping with priority")
        for key, value in spec.items():
            want = CURATED_KEYS.get(key)
            if want is None:
                raise ConfigError(path, where, f"unknown key '{key}' in curated.{name}; "
                                  f"allowed: {', '.join(sorted(CURATED_KEYS))}")
            if not isinstance(value, want) or isinstance(value, bool):
                raise ConfigError(path, where, f"curated.{name}.{key} must be "
                                  f"{want.__name__}, got {value!r}")
        if "priority" not in spec:
            raise ConfigError(path, where, f"curated.{name} needs a priority: where it sits "
                              "among the template cohorts (lower wins)")
        if name in taken:
            raise ConfigError(path, where, f"curated cohort '{name}' has the name of a "
                              "template cohort; give it its own name")
        clash = [c for c, p in taken.items() if p == spec["priority"]]
        if clash:
            raise ConfigError(path, where, f"curated.{name}.priority {spec['priority']} is "
                              f"also the priority of cohort '{clash[0]}'; priorities must differ")
        taken[name] = spec["priority"]
        out.append(CuratedSpec(str(name), spec["priority"], spec.get("title", str(name)),
                               tuple(spec.get("channels", parsed.channels))))
    return tuple(out)


def handoff_config(config: GovernanceConfig) -> dict | None:
    """``exports.handoff``: the table, id and owner columns of the per-owner hand-off."""
    raw = config.exports.get("handoff")
    if raw is None:
        return None
    for key, value in raw.items():
        if key not in HANDOFF_KEYS or not isinstance(value, str):
            raise ConfigError(config.path, None, f"exports.handoff.{key}: allowed keys are "
                              f"{', '.join(HANDOFF_KEYS)}, each a column or table name")
    missing = [k for k in ("table", "id", "owner") if k not in raw]
    if missing:
        raise ConfigError(config.path, None, f"exports.handoff needs {', '.join(missing)} "
                          "(the table of owners, its id column and its owner column)")
    return {"channel": HANDOFF_CHANNEL, **raw}
