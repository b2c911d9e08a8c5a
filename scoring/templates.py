"""Segment template files (``segment_templates/<name>.yaml``): parse into ``Template``.

This module checks the file's shape (strict keys, types, params); the ``where`` predicate
is checked against the known columns by ``segflow.scoring.predicate``, and both are combined by
``segflow.scoring.validate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segflow.scoring.params import PARAM_TYPES, Param, check_value
from segflow.scoring.schema import (
    Problems,
    check_keys,
    expect,
    line_of,
    nearest,
    owners_of,
    read_document,
)

TEMPLATE_REQUIRED = ("name", "title", "description", "owner", "kind", "entity", "where")
TEMPLATE_OPTIONAL = ("params", "rank_by", "top_fraction", "top_n", "score", "when_to_use",
                     "caveats", "live")
PARAM_KEYS = ("type", "default", "description", "min", "max")
KINDS = ("cohort", "suppression")
ENTITIES = ("customer", "account")


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    description: str
    owners: tuple[str, ...]
    kind: str
    entity: str
    where: str
    params: dict[str, Param] = field(default_factory=dict)
    rank_by: str | None = None
    top_fraction: float | str | None = None  # a number or "$param"
    top_n: int | str | None = None
    score: str | None = None
    when_to_use: str | None = None  # the catalogue's advice: which campaign needs it
    caveats: tuple[str, ...] = ()   # what a user must know before relying on it
    # events may add customers between refreshes, where the campaign allows it
    # (``live_additions``); checked by ``segflow.scoring.live`` (docs/realtime.md)
    live: bool = False
    path: Path | None = None
    where_line: int | None = None  # file line of the predicate's first line
    block: bool = False  # `where: |` keeps line breaks, so SQL lines map to file lines

    def file_line(self, sql_line: int | None) -> int | None:
        """File line of a 1-based line inside the predicate (exact for `where: |`)."""
        if self.where_line is None or not sql_line or not self.block:
            return self.where_line
        return self.where_line + sql_line - 1

    @property
    def score_column(self) -> str | None:
        """The column reported as the membership score: ``score``, else ``rank_by``."""
        return self.score or self.rank_by

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}


def load_template(path: Path, problems: Problems) -> Template | None:
    """Parse one template file; problems are recorded, None when it cannot be built."""
    path = Path(path)
    data = read_document(path, problems, "template", TEMPLATE_REQUIRED, TEMPLATE_OPTIONAL)
    if data is None:
        return None
    ok = all([expect(data, k, str, path, problems, "template")
              for k in ("name", "title", "description", "kind", "entity", "where")]
             + [expect(data, "live", bool, path, problems, "template")])
    owners = owners_of(data, path, problems)
    if not ok or not owners or any(k not in data for k in TEMPLATE_REQUIRED):
        return None
    _check_identity(data, path, problems)
    params = _params(data.get("params") or {}, path, problems, line_of(data, "params"))
    extras = _ranking(data, params, path, problems)
    where_line, block = _where_position(path, line_of(data, "where"))
    return Template(
        name=data["name"], title=data["title"], description=data["description"],
        owners=owners, kind=data["kind"], entity=data["entity"], where=data["where"].strip(),
        params=params, path=path, where_line=where_line, block=block,
        live=bool(data.get("live", False)),
        **_advice(data, path, problems), **extras)


def _advice(data: dict, path: Path, problems: Problems) -> dict:
    """``when_to_use`` (a sentence) and ``caveats`` (a list of sentences): optional, but
    when present each is text that says something, never an empty placeholder."""
    out: dict = {}
    if "when_to_use" in data:
        value = data["when_to_use"]
        if not isinstance(value, str) or not value.strip():
            problems.add(path, line_of(data, "when_to_use"),
                         "when_to_use must be a sentence saying which campaign needs this "
                         f"template, got {value!r}")
        else:
            out["when_to_use"] = " ".join(value.split())
    if "caveats" in data:
        value = data["caveats"]
        if not isinstance(value, list) or not value or not all(
                isinstance(c, str) and c.strip() for c in value):
            problems.add(path, line_of(data, "caveats"),
                         "caveats must be a list of sentences, e.g. ['Scores shift when the "
                         f"model is retrained.'], got {value!r}")
        else:
            out["caveats"] = tuple(" ".join(c.split()) for c in value)
    return out


def _check_identity(data: dict, path: Path, problems: Problems) -> None:
    if data["name"] != path.stem:
        problems.add(path, line_of(data, "name"),
                     f"name '{data['name']}' must equal the file name '{path.stem}'")
    if data["kind"] not in KINDS:
        problems.add(path, line_of(data, "kind"),
                     f"kind '{data['kind']}' must be one of {', '.join(KINDS)}")
    if data["entity"] not in ENTITIES:
        problems.add(path, line_of(data, "entity"),
                     f"entity '{data['entity']}' must be one of {', '.join(ENTITIES)}")


def _params(raw: Any, path: Path, problems: Problems, line: int | None) -> dict[str, Param]:
    if not isinstance(raw, dict):
        problems.add(path, line, "params must be a mapping of name -> {type, default, ...}")
        return {}
    params = {}
    for name, spec in raw.items():
        where = line_of(raw, name)
        what = f"param '{name}'"
        if not check_keys(spec, path, problems, what, ("type", "default", "description"),
                          ("min", "max"), line=where):
            continue
        if spec.get("type") not in PARAM_TYPES:
            ptype = str(spec.get("type"))
            problems.add(path, line_of(spec, "type"), f"{what}: type '{ptype}' is not one of "
                         f"{', '.join(PARAM_TYPES)}{nearest(ptype, PARAM_TYPES)}")
            continue
        if spec["type"] not in ("int", "float") and ("min" in spec or "max" in spec):
            problems.add(path, where, f"{what}: min/max apply to int and float params only")
        param = Param(name=str(name), type=spec["type"], default=spec.get("default"),
                      description=str(spec.get("description", "")), min=spec.get("min"),
                      max=spec.get("max"), line=where)
        try:
            param = Param(**{**param.__dict__, "default": check_value(param, param.default)})
        except ValueError as err:
            problems.add(path, line_of(spec, "default"), f"default of {err}")
            # still declared, without a default: the where clause that uses it is not
            # reported a second time as naming an undeclared param
            param = Param(**{**param.__dict__, "default": None})
        params[str(name)] = param
    return params


def _ranking(data: dict, params: dict[str, Param], path: Path, problems: Problems) -> dict:
    """rank_by with top_fraction (0..1) or top_n; each a number or a declared $param."""
    out = {k: data.get(k) for k in ("rank_by", "top_fraction", "top_n", "score")}
    for key in ("top_fraction", "top_n"):
        value = out[key]
        if value is None:
            continue
        if isinstance(value, str) and value.startswith("$"):
            if value[1:] not in params:
                problems.add(path, line_of(data, key), f"{key} refers to undeclared param "
                             f"{value}{nearest(value[1:], params)}")
        elif key == "top_fraction" and not (isinstance(value, float | int)
                                            and not isinstance(value, bool) and 0 < value <= 1):
            problems.add(path, line_of(data, key), f"top_fraction must be in (0, 1], got {value!r}")
        elif key == "top_n" and (isinstance(value, bool) or not isinstance(value, int)
                                 or value < 1):
            problems.add(path, line_of(data, key), f"top_n must be a positive int, got {value!r}")
    if (out["top_fraction"] is not None or out["top_n"] is not None) and not out["rank_by"]:
        problems.add(path, line_of(data, "top_fraction" if "top_fraction" in data else "top_n"),
                     "top_fraction / top_n need rank_by (the column to rank on)")
    if out["top_fraction"] is not None and out["top_n"] is not None:
        problems.add(path, line_of(data, "top_n"), "give top_fraction or top_n, not both")
    return out


def _where_position(path: Path, key_line: int | None) -> tuple[int | None, bool]:
    """Line of the predicate's first line, and whether it is a literal block (`|`)."""
    if key_line is None:
        return None, False
    lines = path.read_text(encoding="utf-8").splitlines()
    rest = lines[key_line - 1].split(":", 1)[-1].strip() if key_line <= len(lines) else ""
    if rest.startswith("|"):
        return key_line + 1, True
    return key_line, False
