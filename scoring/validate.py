"""Validation of template and campaign files before anything runs (`segflow templates check`).

Every problem of every file is collected (file, line, what, nearest known names) so one
run lists all there is to fix. A predicate that passes the structural checks is then bound
by DuckDB over a typed frame (``segflow.scoring.typecheck``), so a template that passes this check
does not fail in preview on a type, a cast, a function signature or a regex.
``load_bundle`` is what scoring, preview and explain use: templates and campaigns that
passed, with their parsed predicates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sqlglot import exp

from segflow.errors import SegflowError
from segflow.scoring import predicate
from segflow.scoring.campaigns import Campaign, load_campaign
from segflow.scoring.columns import PARAM_FAMILY, known_columns
from segflow.scoring.live import live_problems
from segflow.scoring.params import check_value
from segflow.scoring.schema import Problems
from segflow.scoring.templates import Template, load_template
from segflow.scoring.typecheck import Frames, type_issues
from segflow.settings import Settings
from segflow.suggest import nearest

COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In)
Columns = Callable[[str], dict[str, str]]


class TemplateErrors(SegflowError):
    """One or more template/campaign files are invalid; the message lists every problem."""

    def __init__(self, problems: Iterable):
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in segment templates:\n"
                         + "\n".join(f"  {p}" for p in self.problems))


@dataclass
class Bundle:
    """Loaded files: templates by name with their parsed predicates, campaigns by name."""

    templates: dict[str, Template] = field(default_factory=dict)
    trees: dict[str, exp.Expression] = field(default_factory=dict)
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    problems: Problems = field(default_factory=Problems)
    broken: dict[str, Problems] = field(default_factory=dict)  # quietly loaded, not clean


def template_files(settings: Settings) -> list[Path]:
    return sorted(Path(settings.templates_dir).glob("*.yaml"))


def campaign_files(settings: Settings) -> list[Path]:
    return sorted(Path(settings.campaigns_dir).glob("*.yaml"))


def load_bundle(settings: Settings, paths: Iterable[Path] | None = None,
                columns: Columns | None = None) -> Bundle:
    """Load and check files: the given paths (files or folders) or all shipped ones.

    Campaigns are checked against the shipped templates plus any template files given.
    """
    columns = cache(columns or (lambda entity: known_columns(settings, entity)))
    tpaths, cpaths = _split_paths(settings, paths)
    frames = Frames()
    try:
        return _load(settings, tpaths, cpaths, columns, frames)
    finally:
        frames.close()


def _load(settings: Settings, tpaths: list[Path], cpaths: list[Path], columns: Columns,
          frames: Frames) -> Bundle:
    bundle = Bundle()
    given = {p.resolve() for p in tpaths}
    # a file given by path shadows the shipped file of the same name: it is its edited copy
    shadowed = {p.stem for p in given}
    shipped = {p.resolve() for p in template_files(settings) if p.stem not in shadowed}
    for path in sorted(shipped | given):
        own = bundle.problems if path in given else bundle.broken.setdefault(path.stem,
                                                                             Problems())
        template = load_template(path, own)
        if template is None:
            continue
        if template.name in bundle.templates:
            other = bundle.templates[template.name].path
            if path in given:
                bundle.problems.add(path, 1, f"duplicate template name '{template.name}' "
                                             f"(also in {other})")
            continue
        tree = check_template(template, columns, own, frames)
        if template.live:
            for problem in live_problems(settings, template, tree):
                own.add(path, _live_line(path), problem)
                tree = None
        if tree is not None or path in given:
            bundle.templates[template.name] = template
        if tree is not None:
            bundle.trees[template.name] = tree
    for path in cpaths:
        campaign = load_campaign(path, bundle.problems)
        if campaign is not None:
            check_campaign(campaign, bundle, columns, bundle.problems, frames)
            bundle.campaigns[campaign.name] = campaign
    return bundle


def _live_line(path: Path) -> int | None:
    from segflow.scoring.schema import line_of
    from segflow.yamlio import load_yaml

    return line_of(load_yaml(path), "live")


def _split_paths(settings: Settings, paths) -> tuple[list[Path], list[Path]]:
    if not paths:
        return template_files(settings), campaign_files(settings)
    tpaths, cpaths = [], []
    for path in map(Path, paths):
        if path.is_dir():
            nested = sorted(path.rglob("*.yaml"))
            cpaths += [p for p in nested if p.parent.name == "campaigns"]
            tpaths += [p for p in nested if p.parent.name != "campaigns"]
        elif not path.exists():
            raise SegflowError(f"{path}: no such file or folder")
        else:
            (cpaths if path.parent.name == "campaigns" else tpaths).append(path)
    return tpaths, cpaths


def check_template(template: Template, columns: Columns, problems: Problems,
                   frames: Frames | None = None) -> exp.Expression | None:
    """Parse and check a template's predicate and ranking columns; the tree if it is clean.

    With ``frames``, a predicate that passes the structural checks is type-checked by
    DuckDB with the params' defaults."""
    known = columns(template.entity)
    tree, issues = predicate.parse(template.where)
    if tree is not None:
        issues = predicate.check(tree, template.where, known, template.params)
        issues += _param_types(tree, template, known)
        if not issues and frames is not None:
            issues = type_issues(frames, tree, template.where, known, template.defaults())
    for issue in issues:
        problems.add(template.path, template.file_line(issue.line), f"where: {issue.problem}")
    for key in ("rank_by", "score"):
        col = getattr(template, key)
        if col and col not in known:
            problems.add(template.path, template.where_line,
                         f"{key}: unknown column '{col}'{nearest(col, known)}")
    return tree if not issues else None


def spark_problems(bundle: Bundle) -> list[str]:
    """One line per construct of a clean template's ``where`` with no Spark SQL equivalent
    (``segflow.dialects``), at its file and line: what ``templates check`` adds for a project
    on ``engine: spark`` or with ``--dialect spark``. Templates that failed the DuckDB checks
    are reported there already."""
    from segflow.dialects import predicate_to_spark

    lines = []
    for name, tree in sorted(bundle.trees.items()):
        template = bundle.templates[name]
        _sql, problems = predicate_to_spark(tree, template.where)
        lines += [f"{template.path}:{template.file_line(p.line)}: where (Spark): {p}"
                  for p in sorted(problems, key=lambda p: p.line or 0)]
    return lines


def _param_types(tree: exp.Expression, template: Template, known: dict) -> list:
    """A param compared with a column must be of the column's family (date vs timestamp)."""
    issues = []
    for node in tree.find_all(*COMPARISONS):
        operands = [node.this, node.args.get("expression"), node.args.get("low"),
                    node.args.get("high"), node.args.get("field"),
                    *(node.args.get("expressions") or [])]
        cols = [o for o in operands if isinstance(o, exp.Column) and o.name in known]
        holders = [o for o in operands if isinstance(o, exp.Placeholder)
                   and o.name in template.params]
        for col in cols:
            for ph in holders:
                param = template.params[ph.name]
                fam, want = known[col.name], PARAM_FAMILY[param.type]
                if fam not in ("any", want):
                    line = predicate._line(ph, template.where)
                    issues.append(predicate.Issue(line, f"param ${ph.name} is {param.type} "
                                  f"but column '{col.name}' is {fam}"))
    return issues


def check_campaign(campaign: Campaign, bundle: Bundle, columns: Columns,
                   problems: Problems, frames: Frames | None = None) -> None:
    """Templates exist and fit, params are declared and typed, names and channels agree."""
    path, known = campaign.path, columns(campaign.entity)
    seen: dict[str, int | None] = {}
    for spec in campaign.cohorts:
        if spec.name in seen:
            problems.add(path, spec.line, f"duplicate cohort name '{spec.name}' (first at "
                         f"line {seen[spec.name]}); give one a distinct `name:`")
        seen[spec.name] = spec.line
        _check_use(campaign, spec, "cohort", bundle, problems, columns, frames)
        for col in spec.split_by:
            if col not in known:
                problems.add(path, spec.line, f"cohort '{spec.name}': split_by column "
                             f"'{col}' is unknown{nearest(col, known)}")
    for col in campaign.split_by:
        if col not in known:
            problems.add(path, 1, f"split_by column '{col}' is unknown{nearest(col, known)}")
    exp_ = campaign.experiment
    for col in exp_.stratify_by if exp_ else ():
        if col not in known:
            problems.add(path, exp_.line, f"experiment.stratify_by column '{col}' is "
                         f"unknown{nearest(col, known)}")
    for spec in campaign.suppressions:
        _check_use(campaign, spec, "suppression", bundle, problems, columns, frames)


def _check_use(campaign: Campaign, spec, kind: str, bundle: Bundle, problems: Problems,
               columns: Columns | None = None, frames: Frames | None = None) -> None:
    path, label = campaign.path, f"{kind} '{getattr(spec, 'name', spec.template)}'"
    template = bundle.templates.get(spec.template)
    if template is None:
        problems.extend(bundle.broken.get(spec.template) or [])
        if not bundle.broken.get(spec.template):
            problems.add(path, spec.line, f"{label}: no template '{spec.template}'"
                         f"{nearest(spec.template, bundle.templates)}")
        return
    if template.kind != kind:
        problems.add(path, spec.line, f"{label}: template '{template.name}' is a "
                     f"{template.kind}, not a {kind}")
    if template.entity != campaign.entity:
        problems.add(path, spec.line, f"{label}: template '{template.name}' is for "
                     f"{template.entity}, the campaign for {campaign.entity}")
    values, clean = template.defaults(), True
    for name, value in spec.params.items():
        line = spec.params_lines.get(name, spec.line)
        if name not in template.params:
            problems.add(path, line, f"{label}: template '{template.name}' has no param "
                         f"'{name}'{nearest(name, template.params)}")
            clean = False
            continue
        try:
            values[name] = check_value(template.params[name], value)
        except ValueError as err:
            problems.add(path, line, f"{label}: {err}")
            clean = False
    tree = bundle.trees.get(template.name)
    if clean and spec.params and tree is not None and frames is not None and columns:
        for issue in type_issues(frames, tree, template.where, columns(template.entity),
                                 values):   # a param value can break what defaults passed
            problems.add(path, spec.line, f"{label}: with its params, {issue.problem}")
    extra = [c for c in spec.channels if campaign.channels and c not in campaign.channels]
    if extra:
        problems.add(path, spec.line, f"{label}: channels {extra} are not among the "
                     f"campaign's channels {list(campaign.channels)}")
