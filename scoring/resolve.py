"""A campaign resolved for running: each cohort and suppression with its template, final
param values (template defaults < campaign file < --set overrides) and parsed predicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from segflow.errors import SegflowError
from segflow.scoring.arms import cohort_offers, read_allocation
from segflow.scoring.campaigns import Campaign, CohortSpec, SuppressionSpec, campaign_path
from segflow.scoring.params import check_value, parse_cli_value
from segflow.scoring.templates import Template
from segflow.scoring.validate import Columns, TemplateErrors, load_bundle
from segflow.settings import Settings
from segflow.suggest import nearest


@dataclass(frozen=True)
class Bound:
    """One use of a template in a campaign (a cohort spec or a suppression)."""

    key: str  # cohort name, or suppression template name
    template: Template
    tree: exp.Expression
    params: dict[str, Any]
    spec: CohortSpec | SuppressionSpec

    @property
    def channels(self) -> tuple[str, ...]:
        return self.spec.channels


@dataclass(frozen=True)
class Resolved:
    campaign: Campaign
    cohorts: tuple[Bound, ...]  # in priority order (priority, then file order)
    suppressions: tuple[Bound, ...]
    offers: dict[str, tuple] = field(default_factory=dict)  # cohort -> ((offer, share), ...)
    allocation: dict | None = None  # the bandit's shares this resolution used, if any

    def offers_of(self, b: Bound) -> tuple[tuple[str, float], ...]:
        return self.offers.get(b.key, ())


def resolve_campaign(settings: Settings, name: str, overrides: dict[str, Any] | None = None,
                     columns: Columns | None = None) -> Resolved:
    """Load, validate and bind one campaign; raises TemplateErrors listing every problem."""
    bundle = load_bundle(settings, [campaign_path(settings, name)], columns=columns)
    if bundle.problems:
        raise TemplateErrors(bundle.problems)
    campaign = bundle.campaigns[name]
    overrides = _split_overrides(overrides or {}, campaign)
    cohorts = [_bind(spec.name, spec, bundle, overrides) for spec in campaign.cohorts]
    sups = [_bind(spec.template, spec, bundle, overrides) for spec in campaign.suppressions]
    order = sorted(range(len(cohorts)), key=lambda i: (cohorts[i].spec.priority, i))
    allocation = read_allocation(settings, name) if campaign.experiment else None
    offers = {b.key: cohort_offers(campaign, b.spec, allocation) for b in cohorts}
    return Resolved(campaign, tuple(cohorts[i] for i in order), tuple(sups),
                    {k: v for k, v in offers.items() if v}, allocation)


def _bind(key: str, spec, bundle, overrides: dict[str, dict[str, Any]]) -> Bound:
    template = bundle.templates[spec.template]
    params = {**template.defaults(), **spec.params}
    for target in (template.name, key):
        for pname, value in overrides.get(target, {}).items():
            if pname not in template.params:
                raise SegflowError(f"--set {target}.{pname}: template '{template.name}' has "
                                   f"no param '{pname}'{nearest(pname, template.params)}")
            params[pname] = _from_text(template.params[pname].type, value, target, pname)
    for pname, value in list(params.items()):
        try:
            params[pname] = check_value(template.params[pname], value)
        except ValueError as err:
            raise SegflowError(f"{key}.{pname}: {err}") from None
    return Bound(key, template, bundle.trees[template.name], params, spec)


def _from_text(ptype: str, value: Any, target: str, pname: str) -> Any:
    """Values from the command line arrive as text; type them by the declared param."""
    if not isinstance(value, str) or ptype == "str":
        return value
    try:
        return parse_cli_value(ptype, value)
    except ValueError as err:
        raise SegflowError(f"--set {target}.{pname}={value}: {err}") from None


def _split_overrides(overrides: dict[str, Any], campaign: Campaign) -> dict[str, dict]:
    """{'cohort_or_template.param': value} -> {target: {param: value}}, targets checked."""
    targets = {s.name for s in campaign.cohorts} | {s.template for s in campaign.cohorts} | {
        s.template for s in campaign.suppressions}
    out: dict[str, dict] = {}
    for key, value in overrides.items():
        target, _, pname = key.partition(".")
        if not pname or target not in targets:
            raise SegflowError(f"--set {key}: expected <cohort or template>.<param>, with one "
                               f"of this campaign's cohorts or templates{nearest(target, targets)}")
        out.setdefault(target, {})[pname] = value
    return out
