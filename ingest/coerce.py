"""Raw source columns -> contract types, and the schema-drift check that guards it.

A source whose column is gone or has turned into something else is a changed schema: the run
stops and says which source, column and type. A single unparsable value in a column that is
otherwise fine is a bad row, handled later by the row checks: they see the raw text beside the
typed value (``<col>`` typed, ``__raw_<col>`` the original as text).

Timestamps are instants. A value written with its offset (``Z``, ``+05:30``) is read as
that instant; one written without (``2026-03-01 10:00:00``) is read in the zone the source
or the contract declares (``timezone:``), else in the project's (segflow.yaml's
``timezone``), and stored as UTC. Without any declared zone such a value is ambiguous:
in a column whose values mostly carry a zone it is a bad row (quarantined as
``naive_timestamp``); in a column that is mostly or wholly without zones (a typed
``TIMESTAMP`` column, a local-time export) it is a missing setting, and the run stops
saying which zone to declare. A date without a time of day is midnight in the declared
zone, UTC when none is declared.
"""

from __future__ import annotations

from segflow.errors import ConfigError, SchemaChangedError
from segflow.ingest.contract import DUCKDB_TYPES, Column, Contract
from segflow.ingest.sources import EPOCHS, SourceSpec
from segflow.suggest import nearest

MAJORITY = 0.5  # below this share of parsable values a text column counts as retyped

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_TEMPORAL = ("DATE", "TIMESTAMP")
_COMPATIBLE = {  # contract type -> source type families that can hold it
    "float": _NUMERIC, "int": _NUMERIC, "bool": ("BOOLEAN", *_NUMERIC),
    "timestamp": _TEMPORAL,
}


def raw(name: str) -> str:
    return f"__raw_{name}"


def raw_text(expr: str) -> str:
    """SQL: a raw column as text. A source column that is not text (a Parquet timestamp or
    number) is staged as it is and turned into text only where a check or the quarantine
    reads it: formatting every value (a time zone lookup per timestamp) cost about a
    second of CPU per 5M rows and column, for the few rows whose text is ever read."""
    return f"CAST({expr} AS VARCHAR)"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# a time of day, and a time of day followed by a zone: offset, Z, UTC or GMT
TIME_OF_DAY = r"\d{1,2}:\d{2}"
ZONED = r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?|UTC|GMT)$"
NAIVE_TYPES = ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME")


def zone_of(spec: SourceSpec | None, col: Column) -> str | None:
    """The zone of this column's zone-less values: the source's, else the contract's, else
    the project's (segflow.yaml); None when nobody declared one."""
    if spec is None:
        return col.timezone
    return spec.timezone or col.timezone or spec.project_timezone


def naive_sql(text: str) -> str:
    """SQL: the text is a time of day without a zone (NULL text: false)."""
    value = f"TRIM({text})"
    return (f"coalesce(regexp_matches({value}, '{TIME_OF_DAY}') AND NOT "
            f"regexp_matches({value}, '{ZONED}', 'i'), false)")


EPOCH_RANGE = 1e11   # seconds either side of 1970 DuckDB can hold (year 5138): beyond, a bad value


def _epoch_expr(src: str, fmt: str) -> str:
    """SQL: seconds (``epoch``) or milliseconds (``epoch_ms``) since 1970 as an instant."""
    num = f"TRY_CAST(NULLIF(TRIM(CAST({src} AS VARCHAR)), '') AS DOUBLE)"
    if fmt == "epoch_ms":
        num = f"({num} / 1000.0)"
    return f"CASE WHEN abs({num}) < {EPOCH_RANGE:.0f} THEN to_timestamp({num}) END"


def _timestamp_expr(src: str, source_type: str, zone: str | None, fmt: str | None = None
                    ) -> str:
    """SQL: a source column as TIMESTAMPTZ; zone-less values read in ``zone`` (UTC if None).
    ``fmt`` is the source's declared format of the column (strptime, or epoch seconds)."""
    def local(naive: str) -> str:
        return (f"timezone('{zone}', {naive})" if zone
                else f"CAST({naive} AS TIMESTAMPTZ)")

    if fmt in EPOCHS:
        return _epoch_expr(src, fmt)
    if fmt and source_type.startswith("VARCHAR"):
        parsed = f"try_strptime(NULLIF(TRIM({src}), ''), '{fmt.replace(chr(39), chr(39) * 2)}')"
        return parsed if "%z" in fmt or "%Z" in fmt else local(parsed)
    if source_type.startswith("VARCHAR"):
        value = f"NULLIF(TRIM({src}), '')"
        return (f"CASE WHEN regexp_matches({value}, '{ZONED}', 'i') THEN "
                f"TRY_CAST({value} AS TIMESTAMPTZ) ELSE "
                f"{local(f'TRY_CAST({value} AS TIMESTAMP)')} END")
    if source_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return src
    return local(f"CAST({src} AS TIMESTAMP)")


def _typed_expr(col: Column, src: str, source_type: str, zone: str | None = None,
                fmt: str | None = None) -> str:
    """SQL turning one source column into the contract type; NULL where it cannot."""
    is_text = source_type.startswith("VARCHAR")
    value = f"NULLIF(TRIM({src}), '')" if is_text else src
    if col.type == "timestamp":
        return _timestamp_expr(src, source_type, zone, fmt)
    if col.type == "string":
        text = f"NULLIF(TRIM(CAST({src} AS VARCHAR)), '')"
        return {"lower": f"LOWER({text})", "upper": f"UPPER({text})"}.get(col.case, text)
    if col.type == "int":  # DuckDB rounds '1.5' to 2 on a cast; a fraction is not an int
        num = f"TRY_CAST({value} AS DOUBLE)"
        return f"CASE WHEN {num} = FLOOR({num}) THEN TRY_CAST({num} AS BIGINT) END"
    return f"TRY_CAST({value} AS {DUCKDB_TYPES[col.type]})"


def _source_types(con, view: str) -> dict[str, str]:
    return {row[0]: row[1].upper() for row in con.execute(f"DESCRIBE {view}").fetchall()}


def _mapped(spec: SourceSpec, col: Column, src: str, types) -> str:
    """Where a missing column was asked for: a mapping under ``columns:`` names its line
    and the source's nearest column. An optional column mapped by name fails too: a typo
    there would otherwise leave it empty in every row without a word."""
    if col.name not in spec.columns:
        return ""
    hint = nearest(src, types).strip(" ()")
    return (f" (mapped from '{src}' under columns: at {spec.file}:{spec.line_of('columns')}"
            + (f"; {hint})" if hint else ")"))


def _drift(spec: SourceSpec, col: Column, detail: str) -> str:
    return f"column '{col.name}' (expected {col.type}) {detail}"


def _format_of(spec: SourceSpec | None, col: Column) -> str | None:
    return spec.formats.get(col.name) if spec is not None else None


def _check_formats(con, spec: SourceSpec) -> None:
    """A format DuckDB cannot read is a setting to fix, named with its line."""
    import duckdb

    for name, fmt in spec.formats.items():
        if fmt in EPOCHS:
            continue
        try:
            con.execute("SELECT try_strptime('', ?)", [fmt])
        except duckdb.Error as err:
            line = spec.line_of("formats")
            raise ConfigError(spec.file, line, f"'{spec.table}': format {fmt!r} of '{name}': "
                              f"{str(err).splitlines()[0]}") from None


def _check_types(con, spec, view, contract, types) -> list[tuple[Column, str | None, str]]:
    """(column, source column or None if absent, source type); raises on drift, naming
    every missing or retyped column of the source at once."""
    plan, problems = [], []
    for col in contract.columns:
        if col.derived:
            continue
        src = spec.source_column(col.name)
        if src not in types:
            if col.optional and col.name not in spec.columns:
                plan.append((col, None, "NULL"))
                continue
            problems.append(_drift(spec, col, f"is missing{_mapped(spec, col, src, types)}"))
            continue
        family = types[src]
        is_text = family.startswith("VARCHAR")
        epoch = col.type == "timestamp" and _format_of(spec, col) in EPOCHS
        compatible = _NUMERIC if epoch else _COMPATIBLE.get(col.type, ())
        if col.type != "string" and not is_text and not family.startswith(compatible):
            problems.append(_drift(spec, col, f"arrives as {family} in '{src}'"))
            continue
        plan.append((col, src, family))
    if any("is missing" in p for p in problems):
        problems.append(f"the source has: {', '.join(types)}")
    problems += _check_text_majority(con, spec, view, plan)
    problems += _check_zones(spec, plan)
    if problems:
        raise SchemaChangedError(f"{spec.label}: " + "; ".join(problems))
    return plan


def _check_zones(spec, plan) -> list[str]:
    """A timestamp column typed without a zone needs a declared one (see the module doc)."""
    return [_no_zone(spec, col, f"arrives as {family} (times without a zone) in '{src}'")
            for col, src, family in plan
            if (col.type == "timestamp" and family.startswith(NAIVE_TYPES)
                and not family.startswith("TIMESTAMP WITH TIME ZONE")
                and zone_of(spec, col) is None)]


def _no_zone(spec, col: Column, detail: str) -> str:
    return _drift(spec, col, f"{detail}; declare the zone they were written in, e.g. "
                  f"`timezone: Asia/Kolkata` (or UTC) for this source in {spec.file}, or the "
                  "project's in segflow.yaml")


def _check_text_majority(con, spec, view, plan) -> list[str]:
    """A text column feeding a typed one must parse in most rows, else it was retyped (or
    its format is not the declared one); a text timestamp column mostly without zones
    needs a declared one."""
    texts = [(col, src) for col, src, family in plan
             if family.startswith("VARCHAR") and col.type != "string"]
    if not texts:
        return []
    # each value's tests are computed once, in a projection, then counted: written as
    # filters of the aggregates, the typed expression and the regular expressions ran
    # two and three times a value
    tests, parts = [], []
    for i, (col, src) in enumerate(texts):
        typed = _typed_expr(col, _q(src), "VARCHAR", zone_of(spec, col), _format_of(spec, col))
        present = f"NULLIF(TRIM({_q(src)}), '') IS NOT NULL"
        naive = naive_sql(_q(src)) if col.type == "timestamp" else "false"
        tests += [f"{present} AS p{i}",
                  f"CASE WHEN {present} THEN {typed} IS NOT NULL ELSE false END AS ok{i}",
                  f"{naive} AS n{i}", f"{_q(src)} AS v{i}"]
        parts += [f"count(*) FILTER (WHERE p{i})", f"count(*) FILTER (WHERE ok{i})",
                  f"any_value(v{i}) FILTER (WHERE p{i} AND NOT ok{i})",
                  f"count(*) FILTER (WHERE n{i})", f"any_value(v{i}) FILTER (WHERE n{i})"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM (SELECT {', '.join(tests)} "
                      f"FROM {view})").fetchall()[0]
    problems = []
    for i, (col, src) in enumerate(texts):
        present, parsed, example, naive, naive_example = row[5 * i: 5 * i + 5]
        fmt = _format_of(spec, col)
        if present and parsed / present < MAJORITY:
            declared = f" in the declared format {fmt!r}" if fmt else ""
            advice = ("; declare its format under `formats:` (e.g. '%Y%m%d', '%d/%m/%Y', "
                      "epoch)" if col.type == "timestamp" and not fmt else "")
            problems.append(_drift(spec, col, f"arrives as text in '{src}' that is not a "
                                   f"{col.type}{declared} in {present - parsed} of {present} "
                                   f"rows (e.g. {example!r}){advice}"))
        elif present and naive / present > MAJORITY and zone_of(spec, col) is None:
            problems.append(_no_zone(spec, col, f"is written without a time zone in '{src}' "
                                     f"in {naive} of {present} rows (e.g. {naive_example!r})"))
    return problems


def check_schema(con, spec: SourceSpec, view: str, contract: Contract) -> list:
    """The staging plan of one source; raises ``SchemaChangedError`` on drift.

    Kept apart from ``stage`` so every source's schema is checked before any is staged,
    while only one source at a time is held as a staged table.
    """
    _check_formats(con, spec)
    return _check_types(con, spec, view, contract, _source_types(con, view))


def cursor_columns(spec: SourceSpec | None) -> list[str]:
    """SQL for the columns an incremental source adds to its typed rows: ``_cursor`` (the
    cursor column as the source has it: later versions of a key win) and ``_tombstone``."""
    if spec is None or not spec.incremental:
        return []
    cursor = _q(spec.cursor_column) if spec.cursor_column else "CAST(NULL AS VARCHAR)"
    tombstone = (f"coalesce(TRY_CAST({_q(spec.tombstone)} AS BOOLEAN), false)"
                 if spec.tombstone else "false")
    return [f"{cursor} AS _cursor", f"{tombstone} AS _tombstone"]


def stage(con, view: str, contract: Contract, plan: list, spec: SourceSpec | None = None,
          name: str | None = None, row: str = "row_number() OVER ()") -> str:
    """Create temp view ``typed_<table>``: _row (``row``: SQL giving each row's 1-based
    place in the source), each contract column typed and raw (as the source has it: read
    it through ``raw_text``).

    A view, not a table: the row checks read it once into their own table, so the source is
    never held twice. Nothing in it joins: a join is not order-preserving in DuckDB, and the
    checked table must lie in source order (merged customer ids are replaced after the
    checks, ``segflow.ingest.checks``).
    """
    exprs = [f"{row} AS _row"]
    for col, src, family in plan:
        if src is None:
            exprs += [f"CAST(NULL AS {DUCKDB_TYPES[col.type]}) AS {_q(col.name)}",
                      f"CAST(NULL AS VARCHAR) AS {_q(raw(col.name))}"]
        else:
            typed = _typed_expr(col, _q(src), family, zone_of(spec, col), _format_of(spec, col))
            exprs += [f"{typed} AS {_q(col.name)}", f"{_q(src)} AS {_q(raw(col.name))}"]
    if name is None:
        exprs += cursor_columns(spec)
    name = name or f"typed_{contract.table}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {', '.join(exprs)} FROM {view}")
    return name
