"""Campaign files (``segment_templates/campaigns/<name>.yaml``): parse into ``Campaign``.

Shape only (strict keys and types); that templates exist, params are typed right and split
columns are known is checked by ``segflow.scoring.validate`` which sees templates and columns.
Sections owned by later stages (review, controls, drift, bias, exports, feedback) are kept
as opaque mappings so those stages read their thresholds from the same file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segflow.scoring.schema import Problems, check_keys, expect, line_of, owners_of, read_document
from segflow.timeutil import parse_as_of

CAMPAIGN_REQUIRED = ("name", "title", "owner", "entity", "salt", "cohorts")
PASSTHROUGH = ("review", "controls", "drift", "bias", "exports", "feedback")
CAMPAIGN_OPTIONAL = ("description", "as_of", "exclusive", "holdout_fraction", "split_by",
                     "schedule", "approval_required", "channels", "suppressions", *PASSTHROUGH)
COHORT_KEYS = ("name", "params", "priority", "split_by", "channels", "expected_size")
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
                for k in ("schedule", *PASSTHROUGH)])
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
    return Campaign(
        name=data["name"], title=data["title"], owners=owners, entity=data["entity"],
        salt=data["salt"], description=data.get("description", ""),
        cohorts=tuple(c for c in cohorts if c), suppressions=tuple(s for s in sups if s),
        as_of=str(data["as_of"]) if data.get("as_of") is not None else None,
        exclusive=data.get("exclusive", True),
        holdout_fraction=float(data.get("holdout_fraction", 0.0)),
        split_by=defaults["split_by"], schedule=dict(data.get("schedule") or {}),
        approval_required=data.get("approval_required", False), channels=defaults["channels"],
        sections={k: dict(data[k]) for k in PASSTHROUGH if k in data}, path=path)


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
              expect(raw, "expected_size", list, path, problems, what)])
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
        params_lines=dict(getattr(params, "lines", {})))


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
