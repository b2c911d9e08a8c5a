"""Compare a campaign's rules with the list a team uses today (``segflow compare``).

A team moving to segflow has a list already: a spreadsheet export of id and segment. The
first step of adopting rules is to reproduce it, so this module reads that list, evaluates
the campaign's rules on a scored frame (the same membership evaluation as preview and
refresh), and reports agreement as a confusion table plus, for every disagreement, the
clauses and values that decide it (explain's ``explain_use``), so the rules (or the list)
can be corrected until the team trusts them. Nothing is written.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from segflow.errors import SegflowError
from segflow.scoring.evaluate import entity_key, evaluate_memberships
from segflow.scoring.explain import cohort_matches, explain_use, table_truth
from segflow.scoring.resolve import Resolved
from segflow.scoring.sqlparts import duck, literal, quote
from segflow.settings import Settings

NOT_LISTED = "(not listed)"          # in the rules' population, absent from the legacy list
NOT_FOUND = "(not in population)"    # in the legacy list, not in the scored frame
SUPPRESSED, UNASSIGNED = "(suppressed)", "(unassigned)"
LEFT_OUT = (SUPPRESSED, UNASSIGNED)  # agree with NOT_LISTED: neither side segments them
ID_NAMES = ("{entity}_id", "entity_id", "id", "{entity}")
SEGMENT_NAMES = ("segment", "cohort", "tier", "group", "class", "label")
MAX_PROBLEMS = 20
DELIMITERS = (",", ";", "\t", "|")


class BadLegacyRows(SegflowError):
    """Rows of the legacy list that cannot be compared; ``problems`` are file:line lines."""

    def __init__(self, problems: list[str], total: int):
        self.problems, self.total = problems, total
        super().__init__(f"{total} bad row(s) in the legacy list; first: {problems[0]}")


@dataclass
class Legacy:
    """The legacy list: one row per id with its segment and the file line it came from."""

    path: Path
    id_column: str
    segment_column: str
    ids: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _pick(header: list[str], given: str | None, names: tuple[str, ...], what: str,
          option: str, path: Path, taken: str | None = None) -> str:
    """The column named by the option, else the first header matching a usual name, else
    the only column left of a two-column file."""
    if given is not None:
        if given not in header:
            raise SegflowError(f"{path}:1: no column '{given}' ({option}); the header has: "
                               f"{', '.join(header)}")
        return given
    by_norm = {_norm(h): h for h in header}
    for name in names:
        if _norm(name) in by_norm and by_norm[_norm(name)] != taken:
            return by_norm[_norm(name)]
    rest = [h for h in header if h != taken]
    if len(header) == 2 and taken is not None and len(rest) == 1:
        return rest[0]
    raise SegflowError(f"{path}:1: cannot tell which column holds the {what} (header: "
                       f"{', '.join(header)}); name it with {option}")


def read_legacy(path: Path, entity: str, id_column: str | None = None,
                segment_column: str | None = None) -> Legacy:
    """Read a CSV export (comma, semicolon, tab or pipe, whichever the header uses; an
    Excel BOM is fine). Blank lines are
    skipped; an empty id or segment, a row with too few fields and an id listed twice are
    bad rows, all reported at once with file:line (``BadLegacyRows``)."""
    path = Path(path)
    if not path.is_file():
        raise SegflowError(f"no legacy list at {path}")
    try:
        legacy, problems = _parse_legacy(path, entity, id_column, segment_column)
    except UnicodeDecodeError as err:
        raise SegflowError(f"{path}: not UTF-8 text (a byte 0x{err.object[err.start]:02x}): "
                           "the legacy list is a CSV file; save a spreadsheet as CSV (UTF-8) "
                           "first") from None
    if problems:
        raise BadLegacyRows(problems[:MAX_PROBLEMS], len(problems))
    return legacy


def _parse_legacy(path: Path, entity: str, id_column: str | None,
                  segment_column: str | None) -> tuple[Legacy, list[str]]:
    """The legacy list's rows and its bad rows (``read_legacy`` reports them)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        first = handle.readline()
        handle.seek(0)
        # the header's most frequent separator: a spreadsheet's export uses one throughout
        delimiter = max(DELIMITERS, key=first.count) if any(map(first.count, DELIMITERS)) \
            else ","
        reader = csv.reader(handle, delimiter=delimiter)
        header = [h.strip() for h in next(reader, [])]
        if not any(header):
            raise SegflowError(f"{path}:1: the legacy list is empty (expected a header row "
                               "with an id and a segment column)")
        names = tuple(n.format(entity=entity) for n in ID_NAMES)
        id_col = _pick(header, id_column, names, f"{entity} ids", "--id-column", path)
        seg_col = _pick(header, segment_column, SEGMENT_NAMES, "segments",
                        "--segment-column", path, taken=id_col)
        i, s = header.index(id_col), header.index(seg_col)
        legacy, problems, seen = Legacy(path, id_col, seg_col), [], {}
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(i, s):
                problems.append(f"{path}:{line}: {len(row)} field(s), expected at least "
                                f"{max(i, s) + 1} ({id_col}, {seg_col})")
                continue
            key, label = row[i].strip(), row[s].strip()
            if not key or not label:
                empty = id_col if not key else seg_col
                problems.append(f"{path}:{line}: empty {empty}")
            elif key in seen:
                problems.append(f"{path}:{line}: {id_col} '{key}' is listed twice (first on "
                                f"line {seen[key]})")
            else:
                seen[key] = line
                legacy.ids.append(key)
                legacy.labels.append(label)
                legacy.lines.append(line)
    return legacy, problems


def label_map(labels: set[str], resolved: Resolved, cohorts: set[str]) -> dict[str, str]:
    """Legacy label -> cohort name, matching names and titles loosely ('Long tail' is
    long_tail); a label that matches nothing stays as written."""
    known = {}
    for b in resolved.cohorts:
        known.setdefault(_norm(b.template.title), b.key)
        known.setdefault(_norm(b.key), b.key)
    for cohort in cohorts:
        known.setdefault(_norm(cohort), cohort)
    return {label: known.get(_norm(label), label) for label in labels}


# the best-priority cohort of each entity from view ``m`` (its memberships); holdout counts
# as in it, as the legacy list knows no control group. A ranked subquery, not QUALIFY: the
# same text runs on Spark (segflow.sqlengine)
RULES_SQL = f"""SELECT entity_id, rules, priority, suppressed_by FROM (SELECT entity_id,
      CASE WHEN status IN ('assigned', 'holdout') THEN cohort
           WHEN status = 'suppressed' THEN '{SUPPRESSED}' ELSE '{UNASSIGNED}' END AS rules,
      priority, suppressed_by, row_number() OVER (PARTITION BY entity_id ORDER BY
        status NOT IN ('assigned', 'holdout'), priority NULLS LAST, cohort) AS _first
    FROM m) WHERE _first = 1"""
AGREE_SQL = (f"(legacy = rules OR (legacy = '{NOT_LISTED}' AND rules IN "
             f"('{SUPPRESSED}', '{UNASSIGNED}')))")


def compare_campaign(settings: Settings, resolved: Resolved, legacy: Legacy, limit: int,
                     as_of=None, record=None) -> dict:
    """``segflow compare`` on the project's engine: the rules evaluated on the features of
    run ``record`` (as the run scored them) or on features scored as of ``as_of`` (as
    preview scores them, nothing written), then compared with the legacy list."""
    from segflow.engines import SPARK
    from segflow.scoring.explain import load_run_frames, run_files

    if settings.engine == SPARK:
        from segflow.scoring.compare_spark import compare_on_spark

        features = run_files(settings, record)["features"] if record is not None else None
        return compare_on_spark(settings, resolved, legacy, limit, as_of, features)
    if record is not None:
        return compare(load_run_frames(settings, record)[0], resolved, legacy, limit)
    from segflow.progress import stage
    from segflow.scoring.score import score

    with stage(f"scored {resolved.campaign.name}"):
        frame = score(settings, resolved, as_of).frame
    with stage("compared cohorts with the list"):
        return compare(frame, resolved, legacy, limit)


def compare(frame, resolved: Resolved, legacy: Legacy, limit: int = 20) -> dict:
    """Agreement of the rules with the legacy list, as data (``compare_text`` prints it),
    on DuckDB: ``frame`` is the scored features (Arrow), evaluated in memory."""
    memberships = evaluate_memberships(frame, resolved)
    with duck() as con:
        con.register("frame", frame)
        con.register("m", memberships)
        return compare_on(con, resolved, legacy, limit, lambda ids: (
            con.sql(rows_sql(resolved, ids)).to_arrow_table(), cohort_matches(con, resolved, ids)))


def compare_on(con, resolved: Resolved, legacy: Legacy, limit: int, details) -> dict:
    """The comparison from the views on ``con`` (DuckDB, or Spark through
    ``segflow.sqlengine``: the same SQL, and only the counts and the shown disagreements come
    back): ``frame`` (the scored features) and ``m`` (its memberships). ``details(ids)``:
    the features of the shown entities (Arrow) and, for each, whether it meets each cohort's
    rule (``cohort_matches``), which the engines compute each their way."""
    import pyarrow as pa

    con.execute(f"CREATE OR REPLACE TEMP TABLE rules AS {RULES_SQL}")
    cohorts = {r[0] for r in con.execute("SELECT DISTINCT rules FROM rules").fetchall()
               if r[0] not in LEFT_OUT}
    mapping = label_map(set(legacy.labels), resolved, cohorts)
    con.register("listed", pa.table({
        "entity_id": pa.array(legacy.ids, pa.string()), "raw": pa.array(legacy.labels,
                                                                         pa.string()),
        "line": pa.array(legacy.lines, pa.int64()),
        "legacy": pa.array([mapping[x] for x in legacy.labels], pa.string())}))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE joined AS SELECT
          coalesce(l.entity_id, r.entity_id) AS entity_id, l.line, l.raw,
          coalesce(l.legacy, '{NOT_LISTED}') AS legacy,
          coalesce(r.rules, '{NOT_FOUND}') AS rules, r.priority, r.suppressed_by
        FROM listed l FULL OUTER JOIN rules r ON l.entity_id = r.entity_id""")
    # each cell of the confusion table with whether it agrees and whether it is compared
    # at all (neither side segments the entity): the totals are sums of cells, one query
    cells = con.execute(f"""SELECT legacy, rules, count(*) AS n, {AGREE_SQL} AS agree,
          NOT (legacy = '{NOT_LISTED}' AND rules IN ('{SUPPRESSED}', '{UNASSIGNED}'))
            AS compared
        FROM joined GROUP BY legacy, rules ORDER BY legacy, rules""").fetchall()
    confusion = [(a, b, n) for a, b, n, _, _ in cells]
    total = sum(n for *_, n, _, compared in cells if compared)
    agree = sum(n for *_, n, agrees, compared in cells if agrees and compared)
    disagreeing = sum(n for *_, n, agrees, _ in cells if not agrees)
    shown = con.execute(f"""SELECT entity_id, line, raw, legacy, rules, priority,
          suppressed_by FROM joined WHERE NOT {AGREE_SQL} ORDER BY legacy, rules, entity_id
        {f'LIMIT {int(limit)}' if limit else ''}""").fetchall()
    entities = con.execute("SELECT count(*) FROM frame").fetchall()[0][0]
    unmatched = sorted({raw for raw, name in mapping.items() if name == raw
                        and name not in cohorts and name not in {b.key for b in
                                                                 resolved.cohorts}})
    return {
        "campaign": resolved.campaign.name, "entity": resolved.campaign.entity,
        "legacy": {"path": str(legacy.path), "rows": len(legacy.ids),
                   "id_column": legacy.id_column, "segment_column": legacy.segment_column,
                   "labels": dict(sorted(mapping.items())), "not_cohorts": unmatched},
        "entities": entities,
        "compared": total, "agree": agree, "disagree": disagreeing,
        "agreement": (agree / total) if total else None,
        "confusion": [{"legacy": a, "rules": b, "count": n} for a, b, n in confusion],
        "disagreements": _explained(resolved, shown, details),
    }


def rows_sql(resolved: Resolved, ids: list[str]) -> str:
    """The scored features of ``ids`` (a few shown disagreements), on either engine."""
    key = quote(entity_key(resolved.campaign.entity))
    listed = ", ".join(literal(i) for i in ids)
    return f"SELECT * FROM frame WHERE CAST({key} AS VARCHAR) IN ({listed})"


def _explained(resolved: Resolved, shown: list[tuple], details) -> list[dict]:
    """Each shown disagreement with the rules that decide it: the legacy segment's rule
    (which clauses fail, or that it holds and a higher-priority cohort came first), the
    rules' own cohort or suppression, every clause with the entity's values."""
    import pyarrow as pa

    if not shown:
        return []
    key = entity_key(resolved.campaign.entity)
    rows, matched = details([row[0] for row in shown])
    by_id = {str(r[key]): r for r in rows.to_pylist()}
    cohorts = {b.key: (i, b) for i, b in enumerate(resolved.cohorts)}
    sups = {b.key: b for b in resolved.suppressions}
    out = []
    for entity_id, line, raw, legacy, rules, priority, suppressed_by in shown:
        item = {"id": entity_id, "line": line, "legacy": legacy, "legacy_as_written": raw,
                "rules": rules, "priority": priority, "suppressed_by": suppressed_by}
        row = by_id.get(entity_id)
        if row is None:
            item["why"] = ("not in the campaign's population: no features for this id in "
                           "the scored frame")
            out.append(item)
            continue
        one = pa.Table.from_pylist([row], schema=rows.schema)
        hit = matched.get(entity_id, ())
        if legacy in cohorts:
            i, bound = cohorts[legacy]
            item["legacy_rule"] = explain_use(bound, row, table_truth(bound, one))
            item["legacy_rule"]["matched"] = bool(hit[i]) if hit else False
        if rules in cohorts:
            bound = cohorts[rules][1]
            item["rules_rule"] = explain_use(bound, row, table_truth(bound, one))
        if suppressed_by in sups:
            item["suppression"] = explain_use(sups[suppressed_by], row,
                                             table_truth(sups[suppressed_by], one))
        item["why"] = _why(item, cohorts)
        out.append(item)
    return out


def _failing(use: dict) -> str:
    failed = [c for c in use["clauses"] if not c["passed"]]
    return "; ".join(f"{c['text']} ({_values(c['values'])})" for c in failed) or \
        "its top-fraction ranking"


def _values(values: dict) -> str:
    return ", ".join(f"{k} = {_show(v)}" for k, v in values.items())


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return "null" if value is None else str(value)


def _why(item: dict, cohorts: dict) -> str:
    """Sentences: why the legacy segment is not the rules' answer, then why the rules'
    answer is what it is (each rule with its clauses and the entity's values)."""
    legacy, rules = item["legacy"], item["rules"]
    legacy_holds = legacy in cohorts and item["legacy_rule"]["matched"]
    out = []
    if legacy == NOT_LISTED:
        out.append("the legacy list leaves it out")
    elif legacy not in cohorts:
        out.append(f"'{item['legacy_as_written']}' is not a cohort of this campaign")
    elif not legacy_holds:
        out.append(f"the {legacy} rule fails: {_failing(item['legacy_rule'])}")
    elif rules in cohorts:
        out.append(f"the {legacy} rule holds too, but {rules} comes first (priority "
                   f"{cohorts[rules][1].spec.priority} before "
                   f"{cohorts[legacy][1].spec.priority})")
    else:
        out.append(f"the {legacy} rule holds")
    if rules == SUPPRESSED and "suppression" in item:
        holds = [c for c in item["suppression"]["clauses"] if c["passed"]]
        out.append(f"suppressed by {item['suppressed_by']}: " + "; ".join(
            f"{c['text']} ({_values(c['values'])})" for c in holds))
    elif rules == UNASSIGNED:
        out.append("no cohort's rule holds")
    elif rules in cohorts and not legacy_holds:
        out.append(f"{rules} holds: " + "; ".join(
            f"{c['text']} ({_values(c['values'])})" for c in item["rules_rule"]["clauses"]))
    return ". ".join(out)
