"""Raw source columns -> contract types, and the schema-drift check that guards it.

A source whose column is gone or has turned into something else is a changed schema: the run
stops and says which source, column and type. A single unparsable value in a column that is
otherwise fine is a bad row, handled later by the row checks: they see the raw text beside the
typed value (``<col>`` typed, ``__raw_<col>`` the original as text).

Timestamps are instants. A value written with its offset (``Z``, ``+05:30``) is read as
that instant; one written without (``2026-03-01 10:00:00``) is read in the zone the source
or the contract declares (``timezone:``). Without a declared zone such a value is ambiguous:
in a column whose values mostly carry a zone it is a bad row (quarantined as
``naive_timestamp``); in a column that is mostly or wholly without zones (a typed
``TIMESTAMP`` column, a local-time export) it is a missing setting, and the run stops
saying which zone to declare. A date without a time of day is midnight in the declared
zone, UTC when none is declared.
"""

from __future__ import annotations

from segflow.errors import SchemaChangedError
from segflow.ingest.contract import DUCKDB_TYPES, Column, Contract
from segflow.ingest.sources import SourceSpec

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


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# a time of day, and a time of day followed by a zone: offset, Z, UTC or GMT
TIME_OF_DAY = r"\d{1,2}:\d{2}"
ZONED = r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?|UTC|GMT)$"
NAIVE_TYPES = ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME")


def zone_of(spec: SourceSpec | None, col: Column) -> str | None:
    """The zone of this column's zone-less values: the source's, else the contract's."""
    return (spec.timezone if spec is not None else None) or col.timezone


def naive_sql(text: str) -> str:
    """SQL: the text is a time of day without a zone (NULL text: false)."""
    value = f"TRIM({text})"
    return (f"coalesce(regexp_matches({value}, '{TIME_OF_DAY}') AND NOT "
            f"regexp_matches({value}, '{ZONED}', 'i'), false)")


def _timestamp_expr(src: str, source_type: str, zone: str | None) -> str:
    """SQL: a source column as TIMESTAMPTZ; zone-less values read in ``zone`` (UTC if None)."""
    def local(naive: str) -> str:
        return (f"timezone('{zone}', {naive})" if zone
                else f"CAST({naive} AS TIMESTAMPTZ)")

    if source_type.startswith("VARCHAR"):
        value = f"NULLIF(TRIM({src}), '')"
        return (f"CASE WHEN regexp_matches({value}, '{ZONED}', 'i') THEN "
                f"TRY_CAST({value} AS TIMESTAMPTZ) ELSE "
                f"{local(f'TRY_CAST({value} AS TIMESTAMP)')} END")
    if source_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return src
    return local(f"CAST({src} AS TIMESTAMP)")


def _typed_expr(col: Column, src: str, source_type: str, zone: str | None = None) -> str:
    """SQL turning one source column into the contract type; NULL where it cannot."""
    is_text = source_type.startswith("VARCHAR")
    value = f"NULLIF(TRIM({src}), '')" if is_text else src
    if col.type == "timestamp":
        return _timestamp_expr(src, source_type, zone)
    if col.type == "string":
        text = f"NULLIF(TRIM(CAST({src} AS VARCHAR)), '')"
        return {"lower": f"LOWER({text})", "upper": f"UPPER({text})"}.get(col.case, text)
    if col.type == "int":  # DuckDB rounds '1.5' to 2 on a cast; a fraction is not an int
        num = f"TRY_CAST({value} AS DOUBLE)"
        return f"CASE WHEN {num} = FLOOR({num}) THEN TRY_CAST({num} AS BIGINT) END"
    return f"TRY_CAST({value} AS {DUCKDB_TYPES[col.type]})"


def _source_types(con, view: str) -> dict[str, str]:
    return {row[0]: row[1].upper() for row in con.execute(f"DESCRIBE {view}").fetchall()}


def _drift(spec: SourceSpec, col: Column, detail: str) -> SchemaChangedError:
    return SchemaChangedError(f"{spec.label}: column '{col.name}' (expected {col.type}) "
                              f"{detail}")


def _check_types(con, spec, view, contract, types) -> list[tuple[Column, str | None, str]]:
    """(column, source column or None if absent, source type); raises on drift."""
    plan = []
    for col in contract.columns:
        if col.derived:
            continue
        src = spec.columns.get(col.name, col.name)
        if src not in types:
            if col.optional:
                plan.append((col, None, "NULL"))
                continue
            mapped = f" (mapped from '{src}')" if src != col.name else ""
            raise _drift(spec, col, f"is missing{mapped}; the source has: "
                         f"{', '.join(types)}")
        family = types[src]
        is_text = family.startswith("VARCHAR")
        if col.type != "string" and not is_text and not family.startswith(_COMPATIBLE[col.type]):
            raise _drift(spec, col, f"arrives as {family} in '{src}'")
        plan.append((col, src, family))
    _check_text_majority(con, spec, view, plan)
    _check_zones(spec, plan)
    return plan


def _check_zones(spec, plan) -> None:
    """A timestamp column typed without a zone needs a declared one (see the module doc)."""
    for col, src, family in plan:
        if (col.type == "timestamp" and family.startswith(NAIVE_TYPES)
                and not family.startswith("TIMESTAMP WITH TIME ZONE")
                and zone_of(spec, col) is None):
            raise _no_zone(spec, col, f"arrives as {family} (times without a zone) in '{src}'")


def _no_zone(spec, col: Column, detail: str) -> SchemaChangedError:
    return _drift(spec, col, f"{detail}; declare the zone they were written in, e.g. "
                  f"`timezone: Asia/Kolkata` (or UTC) for this source in {spec.file}")


def _check_text_majority(con, spec, view, plan) -> None:
    """A text column feeding a typed one must parse in most rows, else it was retyped; a
    text timestamp column mostly without zones needs a declared one."""
    texts = [(col, src) for col, src, family in plan
             if family.startswith("VARCHAR") and col.type != "string"]
    if not texts:
        return
    parts = []
    for col, src in texts:
        typed = _typed_expr(col, _q(src), "VARCHAR", zone_of(spec, col))
        present = f"NULLIF(TRIM({_q(src)}), '') IS NOT NULL"
        naive = naive_sql(_q(src)) if col.type == "timestamp" else "false"
        parts += [f"count(*) FILTER (WHERE {present})",
                  f"count(*) FILTER (WHERE {present} AND {typed} IS NOT NULL)",
                  f"any_value({_q(src)}) FILTER (WHERE {present} AND {typed} IS NULL)",
                  f"count(*) FILTER (WHERE {naive})",
                  f"any_value({_q(src)}) FILTER (WHERE {naive})"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {view}").fetchall()[0]
    for i, (col, src) in enumerate(texts):
        present, parsed, example, naive, naive_example = row[5 * i: 5 * i + 5]
        if present and parsed / present < MAJORITY:
            raise _drift(spec, col, f"arrives as text in '{src}' that is not a {col.type} in "
                         f"{present - parsed} of {present} rows (e.g. {example!r})")
        if present and naive / present > MAJORITY and zone_of(spec, col) is None:
            raise _no_zone(spec, col, f"is written without a time zone in '{src}' in {naive} "
                           f"of {present} rows (e.g. {naive_example!r})")


def check_schema(con, spec: SourceSpec, view: str, contract: Contract) -> list:
    """The staging plan of one source; raises ``SchemaChangedError`` on drift.

    Kept apart from ``stage`` so every source's schema is checked before any is staged,
    while only one source at a time is held as a staged table.
    """
    return _check_types(con, spec, view, contract, _source_types(con, view))


def stage(con, view: str, contract: Contract, plan: list, survivors: tuple = (),
          spec: SourceSpec | None = None) -> str:
    """Create temp view ``typed_<table>``: _row, each contract column typed and as raw text.

    A view, not a table: the row checks read it once into their own table, so the source is
    never held twice. Columns in ``survivors`` have merged customer ids replaced by the
    survivor's (their raw text keeps the original).
    """
    exprs = ["row_number() OVER () AS _row"]
    for col, src, family in plan:
        if src is None:
            exprs += [f"CAST(NULL AS {DUCKDB_TYPES[col.type]}) AS {_q(col.name)}",
                      f"CAST(NULL AS VARCHAR) AS {_q(raw(col.name))}"]
        else:
            typed = _typed_expr(col, _q(src), family, zone_of(spec, col))
            exprs += [f"{typed} AS {_q(col.name)}",
                      f"CAST({_q(src)} AS VARCHAR) AS {_q(raw(col.name))}"]
    sql = f"SELECT {', '.join(exprs)} FROM {view}"
    if survivors:
        joins = " ".join(f"LEFT JOIN merge_map m{i} ON s.{_q(c)} = m{i}.merged_id"
                         for i, c in enumerate(survivors))
        swaps = ", ".join(f"COALESCE(m{i}.survivor_id, s.{_q(c)}) AS {_q(c)}"
                          for i, c in enumerate(survivors))
        sql = f"SELECT s.* REPLACE ({swaps}) FROM ({sql}) s {joins}"
    name = f"typed_{contract.table}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
    return name
