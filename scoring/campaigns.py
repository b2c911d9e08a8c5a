"""Campaign files (``segment_templates/campaigns/<name>.yaml``): parse into ``Campaign``.

Shape only (strict keys and types); that templates exist, params are typed right and split
columns are known is checked by ``segflow.scoring.validate`` which sees templates and columns.
Sections owned by later stages (review, controls, drift, bias, exports, feedback) are kept
as opaque mappings so those stages read their thresholds from the same file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segflow.scoring.schema import (
    Problems,
    check_keys,
    expect,
    line_of,
    nearest,
    owners_of,
    read_document,
)
from segflow.timeutil import parse_as_of

if TYPE_CHECKING:
    from segflow.settings import Settings

CAMPAIGN_REQUIRED = ("name", "title", "owner", "entity", "salt", "cohorts")
PASSTHROUGH = ("review", "controls", "drift", "bias", "exports", "feedback", "curated")
CAMPAIGN_OPTIONAL = ("description", "as_of", "exclusive", "holdout_fraction", "split_by",
                     "schedule", "approval_required", "channels", "suppressions", "experiment",
                     "freshness", "live_additions", *PASSTHROUGH)
COHORT_KEYS = ("name", "params", "priority", "split_by", "channels", "expected_size", "offers")
EXPERIMENT_KEYS = ("offers", "salt", "cohorts", "stratify_by", "min_per_offer", "bandit")
BANDIT_KEYS = ("metric", "floor", "draws", "seed")
SUPPRESSION_KEYS = ("params", "channels", "exempt")


@dataclass(frozen=True)
class CohortSpec:
    name: str
    template: str
    params: dict[str, Any]
    priority: int
    split_by: tuple[str, ...]
    channels: tuple[str, ...]
    expected_size: tuple[int, int] | None = None
    line: int | None = None
    params_lines: dict[str, int] = field(default_factory=dict)
    offers: tuple[tuple[str, float], ...] | None = None  # this cohort's own offer weights


@dataclass(frozen=True)
class BanditSpec:
    """Thompson sampling between refreshes: the posterior of each offer's conversion (or
    revenue) re-weights the offers for customers not yet assigned; no offer below ``floor``."""

    metric: str = "conversion"  # conversion | revenue
    floor: float = 0.1          # smallest share of the treated any offer keeps
    draws: int = 10_000         # posterior draws behind each allocation
    seed: int = 0


@dataclass(frozen=True)
class ExperimentSpec:
    """Several offers tested against each other inside cohorts, the holdout as control.

    ``offers`` are (name, weight) in file order, weights normalised to shares of each
    cohort's treated customers; ``cohorts`` empty means every cohort runs the experiment."""

    offers: tuple[tuple[str, float], ...]
    salt: str
    cohorts: tuple[str, ...] = ()
    stratify_by: tuple[str, ...] = ()
    min_per_offer: int = 0
    bandit: BanditSpec | None = None
    line: int | None = None


@dataclass(frozen=True)
class SuppressionSpec:
    template: str
    params: dict[str, Any]
    channels: tuple[str, ...] = ()  # empty: suppress on every channel
    exempt: tuple[str, ...] = ()    # cohorts this suppression does not apply to
    line: int | None = None
    params_lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Campaign:
    name: str
    title: str
    owners: tuple[str, ...]
    entity: str
    salt: str
    cohorts: tuple[CohortSpec, ...]
    suppressions: tuple[SuppressionSpec, ...] = ()
    description: str = ""
    as_of: str | None = None
    exclusive: bool = True
    holdout_fraction: float = 0.0
    split_by: tuple[str, ...] = ()
    schedule: dict = field(default_factory=dict)
    approval_required: bool = False
    channels: tuple[str, ...] = ()
    sections: dict[str, dict] = field(default_factory=dict)  # review, controls, drift, ...
    path: Path | None = None
    experiment: ExperimentSpec | None = None
    freshness_limit: float | None = None  # freshness.p95_limit_seconds: live events' p95 lag
    live_additions: LiveAdditions | None = None  # None: additions wait for the next refresh


@dataclass(frozen=True)
class LiveAdditions:
    """``live_additions: {max_customers: N, max_share: S}``: between governed refreshes,
    events may add customers to cohorts whose template is ``live: true``, at most
    ``max_customers`` and at most ``max_share`` of the approved publication's assigned
    customers, whichever is smaller (either may be left out, not both)."""

    max_customers: int | None = None
    max_share: float | None = None

    def bound(self, approved: int) -> int:
        """The most customers added live to a publication of ``approved`` assigned ones."""
        limits = [self.max_customers] if self.max_customers is not None else []
        if self.max_share is not None:
            limits.append(int(self.max_share * approved))
        return min(limits)


def campaign_path(settings: Settings, name: str) -> Path:
    """The project's file of campaign ``name``; a missing one is one line naming the nearest
    known campaign. Cheap (no template is parsed), so commands check it before starting
    anything slow (a Prefect flow, a Feast repo)."""
    path = settings.campaigns_dir / f"{name}.yaml"
    if not path.exists():
        from segflow.errors import SegflowError

        known = [p.stem for p in settings.campaigns_dir.glob("*.yaml")]
        raise SegflowError(f"no campaign '{name}' in {settings.campaigns_dir}"
                           f"{nearest(name, known)}")
    return path


def load_campaign(path: Path, problems: Problems) -> Campaign | None:
    """Parse one campaign file; problems are recorded, None when it cannot be built."""
    path = Path(path)
    data = read_document(path, problems, "campaign", CAMPAIGN_REQUIRED, CAMPAIGN_OPTIONAL)
    if data is None:
        return None
    ok = all([expect(data, k, str, path, problems, "campaign")
              for k in ("name", "title", "entity", "salt", "description")]
             + [expect(data, k, bool, path, problems, "campaign")
                for k in ("exclusive", "approval_required")]
             + [expect(data, k, list, path, problems, "campaign")
                for k in ("cohorts", "suppressions", "split_by", "channels")]
             + [expect(data, k, dict, path, problems, "campaign")
                for k in ("schedule", "experiment", "freshness", "live_additions",
                          *PASSTHROUGH)])
    owners = owners_of(data, path, problems)
    if not ok or not owners or any(k not in data for k in CAMPAIGN_REQUIRED):
        return None
    if data["name"] != path.stem:
        problems.add(path, line_of(data, "name"),
                     f"name '{data['name']}' must equal the file name '{path.stem}'")
    _check_campaign_values(data, path, problems)
    defaults = {"split_by": tuple(data.get("split_by") or ()),
                "channels": tuple(data.get("channels") or ())}
    cohorts = [_cohort(c, i, defaults, path, problems) for i, c in enumerate(data["cohorts"])]
    sups = [_suppression(s, path, problems) for s in data.get("suppressions") or []]
    _check_exemptions([c for c in cohorts if c], [s for s in sups if s], path, problems)
    experiment = _experiment(data, [c for c in cohorts if c], path, problems)
    return Campaign(
        name=data["name"], title=data["title"], owners=owners, entity=data["entity"],
        salt=data["salt"], description=data.get("description", ""),
        cohorts=tuple(c for c in cohorts if c), suppressions=tuple(s for s in sups if s),
        as_of=str(data["as_of"]) if data.get("as_of") is not None else None,
        exclusive=data.get("exclusive", True),
        holdout_fraction=float(data.get("holdout_fraction", 0.0)),
        split_by=defaults["split_by"], schedule=dict(data.get("schedule") or {}),
        approval_required=data.get("approval_required", False), channels=defaults["channels"],
        sections={k: dict(data[k]) for k in PASSTHROUGH if k in data}, path=path,
        experiment=experiment, freshness_limit=_freshness_limit(data, path, problems),
        live_additions=_live_additions(data, path, problems))


def _live_additions(data: dict, path: Path, problems: Problems) -> LiveAdditions | None:
    """``live_additions: {max_customers: N, max_share: S}``, both optional, at least one:
    N a positive int, S in (0, 1]."""
    raw = data.get("live_additions")
    if not isinstance(raw, dict):
        return None
    if not check_keys(raw, path, problems, "live_additions", (),
                      ("max_customers", "max_share"), line=line_of(data, "live_additions")):
        return None
    if not raw:
        problems.add(path, line_of(data, "live_additions"), "live_additions needs "
                     "max_customers, max_share or both (the approved bounds)")
        return None
    count, share = raw.get("max_customers"), raw.get("max_share")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or count < 1):
        problems.add(path, line_of(raw, "max_customers"), "live_additions.max_customers "
                     f"must be a positive whole number, got {count!r}")
        return None
    if share is not None and (isinstance(share, bool) or not isinstance(share, int | float)
                              or not 0 < share <= 1):
        problems.add(path, line_of(raw, "max_share"), "live_additions.max_share must be a "
                     f"share in (0, 1] of the approved list's assigned customers, got {share!r}")
        return None
    return LiveAdditions(count, None if share is None else float(share))


def _freshness_limit(data: dict, path: Path, problems: Problems) -> float | None:
    """``freshness: {p95_limit_seconds: N}``: the most seconds the 95th percentile of
    event-to-applied lag of the live events that concern this campaign may reach before
    ``segflow events status`` fails (docs/realtime.md); None: realtime.yaml's limit."""
    raw = data.get("freshness")
    if not isinstance(raw, dict):
        return None
    if not check_keys(raw, path, problems, "freshness", ("p95_limit_seconds",), (),
                      line=line_of(data, "freshness")) or "p95_limit_seconds" not in raw:
        return None
    limit = raw["p95_limit_seconds"]
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
        problems.add(path, line_of(raw, "p95_limit_seconds"),
                     f"freshness.p95_limit_seconds must be a positive number of seconds, "
                     f"got {limit!r}")
        return None
    return float(limit)


def _check_campaign_values(data: dict, path: Path, problems: Problems) -> None:
    fraction = data.get("holdout_fraction", 0.0)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not (
            0 <= fraction < 1):
        problems.add(path, line_of(data, "holdout_fraction"),
                     f"holdout_fraction must be a number in [0, 1), got {fraction!r}")
    if data.get("as_of") is not None:
        try:
            parse_as_of(str(data["as_of"]))
        except Exception:  # typer.BadParameter: report as a config problem instead
            problems.add(path, line_of(data, "as_of"), f"as_of {data['as_of']!r} is not an "
                         "ISO date or datetime")
    schedule = data.get("schedule")
    if isinstance(schedule, dict):
        check_keys(schedule, path, problems, "schedule", ("cron", "timezone"), (),
                   line=line_of(data, "schedule"))
        cron = schedule.get("cron")
        if cron is not None and (not isinstance(cron, str) or len(cron.split()) != 5):
            problems.add(path, line_of(schedule, "cron"),
                         f"schedule.cron must have 5 fields (min hour dom month dow), got {cron!r}")


def _cohort(raw: Any, index: int, defaults: dict, path: Path,
            problems: Problems) -> CohortSpec | None:
    what = f"cohorts[{index}]"
    line = line_of(raw, "template") if isinstance(raw, dict) else None
    if not check_keys(raw, path, problems, what, ("template",), COHORT_KEYS, line=line):
        return None
    ok = all([expect(raw, "template", str, path, problems, what),
              expect(raw, "name", str, path, problems, what),
              expect(raw, "params", dict, path, problems, what),
              expect(raw, "priority", int, path, problems, what),
              expect(raw, "split_by", list, path, problems, what),
              expect(raw, "channels", list, path, problems, what),
              expect(raw, "expected_size", list, path, problems, what),
              expect(raw, "offers", dict, path, problems, what)])
    if not ok or "template" not in raw:
        return None
    size = raw.get("expected_size")
    if size is not None and (len(size) != 2 or not all(isinstance(v, int) for v in size)
                             or size[0] > size[1]):
        problems.add(path, line_of(raw, "expected_size"),
                     f"{what}.expected_size must be [min, max] integers, got {size!r}")
        size = None
    params = raw.get("params") or {}
    return CohortSpec(
        name=raw.get("name", raw["template"]), template=raw["template"], params=dict(params),
        priority=raw.get("priority", index + 1),
        split_by=tuple(raw["split_by"]) if "split_by" in raw else defaults["split_by"],
        channels=tuple(raw["channels"]) if "channels" in raw else defaults["channels"],
        expected_size=tuple(size) if size else None, line=line,
        params_lines=dict(getattr(params, "lines", {})),
        offers=_offers(raw["offers"], raw, path, problems, f"{what}.offers")
        if "offers" in raw else None)


def _suppression(raw: Any, path: Path, problems: Problems) -> SuppressionSpec | None:
    line = line_of(raw, "template") if isinstance(raw, dict) else None
    if not check_keys(raw, path, problems, "suppression", ("template",), SUPPRESSION_KEYS,
                      line=line):
        return None
    ok = all([expect(raw, "template", str, path, problems, "suppression"),
              expect(raw, "params", dict, path, problems, "suppression"),
              expect(raw, "channels", list, path, problems, "suppression"),
              expect(raw, "exempt", list, path, problems, "suppression")])
    if not ok or "template" not in raw:
        return None
    params = raw.get("params") or {}
    return SuppressionSpec(template=raw["template"], params=dict(params),
                           channels=tuple(raw.get("channels") or ()),
                           exempt=tuple(raw.get("exempt") or ()), line=line,
                           params_lines=dict(getattr(params, "lines", {})))


def _check_exemptions(cohorts: list[CohortSpec], sups: list[SuppressionSpec], path: Path,
                      problems: Problems) -> None:
    """A suppression's ``exempt`` names cohorts of this campaign (e.g. a win-back cohort
    exempt from the inactivity suppression it exists to reach)."""
    names = {c.name for c in cohorts}
    for s in sups:
        for name in s.exempt:
            if name not in names:
                problems.add(path, s.line, f"suppression {s.template}: exempt names no cohort "
                             f"of this campaign: {name!r}")


def _offers(raw: dict, parent: dict, path: Path, problems: Problems,
            what: str) -> tuple[tuple[str, float], ...] | None:
    """``{offer: weight}`` -> ((offer, share), ...) in file order, shares summing to 1."""
    line = line_of(parent, what.rsplit(".", 1)[-1])
    if len(raw) < 2:
        problems.add(path, line, f"{what} needs at least two offers to compare, got "
                     f"{len(raw)} (one offer and the holdout is the plain campaign)")
        return None
    bad = [k for k, w in raw.items() if not isinstance(k, str) or not k.strip()
           or isinstance(w, bool) or not isinstance(w, int | float) or w <= 0]
    if bad:
        problems.add(path, line, f"{what}: each offer needs a name and a positive weight "
                     f"(e.g. discount: 0.5); check {', '.join(map(repr, bad))}")
        return None
    reserved = [k for k in raw if k in ("holdout", "treatment")]
    if reserved:
        problems.add(path, line, f"{what}: '{reserved[0]}' is an arm segflow names itself; "
                     "call the offer something else")
        return None
    total = float(sum(raw.values()))
    return tuple((k, float(w) / total) for k, w in raw.items())


def _experiment(data: dict, cohorts: list[CohortSpec], path: Path,
                problems: Problems) -> ExperimentSpec | None:
    """The ``experiment:`` section; cohorts with their own ``offers`` need none."""
    raw = data.get("experiment")
    own = [c for c in cohorts if c.offers is not None]
    if raw is None:
        return (ExperimentSpec(offers=(), salt=f"{data['salt']}:offers")
                if own else None)
    line = line_of(data, "experiment")
    if not check_keys(raw, path, problems, "experiment", (), EXPERIMENT_KEYS, line=line):
        return None
    ok = all([expect(raw, "offers", dict, path, problems, "experiment"),
              expect(raw, "salt", str, path, problems, "experiment"),
              expect(raw, "cohorts", list, path, problems, "experiment"),
              expect(raw, "stratify_by", list, path, problems, "experiment"),
              expect(raw, "min_per_offer", int, path, problems, "experiment"),
              expect(raw, "bandit", dict, path, problems, "experiment")])
    if not ok:
        return None
    offers = _offers(raw["offers"], raw, path, problems, "experiment.offers") \
        if "offers" in raw else ()
    if "offers" not in raw and not own:
        problems.add(path, line, "experiment needs offers (e.g. offers: {discount: 1, "
                     "bundle: 1}) here or on a cohort")
    names = {c.name for c in cohorts}
    for name in raw.get("cohorts") or []:
        if name not in names:
            problems.add(path, line_of(raw, "cohorts"), "experiment.cohorts names no cohort "
                         f"of this campaign: {name!r}{nearest(str(name), names)}")
    if raw.get("min_per_offer", 0) < 0:
        problems.add(path, line_of(raw, "min_per_offer"), "experiment.min_per_offer must be "
                     ">= 0")
    return ExperimentSpec(
        offers=offers or (), salt=raw.get("salt", f"{data['salt']}:offers"),
        cohorts=tuple(raw.get("cohorts") or ()), stratify_by=tuple(raw.get("stratify_by") or ()),
        min_per_offer=int(raw.get("min_per_offer", 0)),
        bandit=_bandit(raw["bandit"], path, problems) if "bandit" in raw else None, line=line)


def _bandit(raw: dict, path: Path, problems: Problems) -> BanditSpec | None:
    if not check_keys(raw, path, problems, "experiment.bandit", (), BANDIT_KEYS,
                      line=line_of(raw, "metric")):
        return None
    spec = BanditSpec(**{k: raw[k] for k in BANDIT_KEYS if k in raw})
    if spec.metric not in ("conversion", "revenue"):
        problems.add(path, line_of(raw, "metric"), "experiment.bandit.metric is conversion "
                     f"or revenue, got {spec.metric!r}")
    if isinstance(spec.floor, bool) or not isinstance(spec.floor, int | float) \
            or not 0 <= spec.floor < 1:
        problems.add(path, line_of(raw, "floor"), "experiment.bandit.floor must be a share "
                     f"in [0, 1), got {spec.floor!r}")
    for key in ("draws", "seed"):
        value = getattr(spec, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < (
                100 if key == "draws" else 0):
            problems.add(path, line_of(raw, key), f"experiment.bandit.{key} must be an "
                         f"integer{' >= 100' if key == 'draws' else ' >= 0'}, got {value!r}")
    return spec
