"""Row checks: each staged row gets the first reason it is bad, or none; all in one SQL pass.

Reasons read ``<check>:<column>`` (``unparsable_date:order_ts``, ``unknown_currency:currency``,
``orphan:customer_id``, ``duplicate_key:order_id``) so the quarantine report says both what
is wrong and where. A row gets one reason, which keeps the counts adding up to the rows.

Plausibility (see ``segflow.ingest.contract``): ``too_early`` / ``too_late`` (outside a timestamp
column's dates), ``in_future`` (after the ingest's as-of plus the column's tolerance),
``naive_timestamp`` (a time of day without a zone, and no zone declared), ``out_of_range``
(outside a number's min/max, unless ``min_except_when`` exempts the row).
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from segflow import keyindex
from segflow.ingest.coerce import naive_sql, raw, raw_text, zone_of
from segflow.ingest.contract import Column, Contract
from segflow.ingest.sources import SourceSpec


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


_UNPARSABLE = {"timestamp": "unparsable_date", "int": "unparsable_number",
               "float": "unparsable_number", "bool": "unparsable_bool"}


def _instant(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.isoformat()}'"


def _timestamp_rules(col: Column, as_of: datetime | None, zone: str | None) -> list:
    """Zone-less times (when no zone is declared) and dates outside the plausible range."""
    c, rules = _q(col.name), []
    if zone is None:
        rules.append((naive_sql(raw_text(_q(raw(col.name)))), f"naive_timestamp:{col.name}"))
    if col.earliest is not None:
        rules.append((f"{c} < {_instant(col.earliest)}", f"too_early:{col.name}"))
    if col.latest is not None:
        rules.append((f"{c} > {_instant(col.latest)}", f"too_late:{col.name}"))
    if col.max_future is not None and as_of is not None:
        rules.append((f"{c} > {_instant(as_of + col.max_future)}", f"in_future:{col.name}"))
    return rules


def _exempt(col: Column) -> str:
    """SQL: the row is exempt from the column's min (``min_except_when``)."""
    if not col.min_except_when:
        return "false"
    parts = [f"{_q(other)} IN ({_lit(values)})" for other, values in col.min_except_when]
    return f"coalesce({' AND '.join(parts)}, false)"


def _column_rules(col: Column, currencies: list[str], ref: str | None,
                  as_of: datetime | None = None, zone: str | None = None
                  ) -> list[tuple[str | None, str]]:
    """(condition, reason) pairs for one column, in the order they are tried; a reference
    check's condition is None (it needs a join, so it runs after the pass: ``_orphans``)."""
    c, r = _q(col.name), raw_text(_q(raw(col.name)))
    rules = []
    if col.type in _UNPARSABLE:
        rules.append((f"{c} IS NULL AND NULLIF(TRIM({r}), '') IS NOT NULL",
                      f"{_UNPARSABLE[col.type]}:{col.name}"))
    if not col.nullable and not col.identifier:
        rules.append((f"{c} IS NULL", f"missing_value:{col.name}"))
    if col.type == "timestamp":
        rules += _timestamp_rules(col, as_of, zone)
    if col.allowed:
        rules.append((f"{c} NOT IN ({_lit(col.allowed)})", f"not_allowed:{col.name}"))
    if col.allowed_from == "fx_rates":
        rules.append((f"{c} NOT IN ({_lit(currencies)})", f"unknown_currency:{col.name}"))
    if col.min is not None:
        rules.append((f"{c} < {float(col.min)} AND NOT {_exempt(col)}",
                      f"out_of_range:{col.name}"))
    if col.max is not None:
        rules.append((f"{c} > {float(col.max)}", f"out_of_range:{col.name}"))
    if ref:
        rules.append((None, f"orphan:{col.name}"))
    return rules


def _rules(contract: Contract, currencies: list[str], refs: dict[str, str],
           as_of: datetime | None = None, spec: SourceSpec | None = None
           ) -> list[tuple[str | None, str | None]]:
    """Every check in the order they are tried: (condition, reason); the first that holds
    gives a row its reason."""
    whens = [(f"{_q(k)} IS NULL AND {_q(raw(k))} IS NULL", f"missing_key:{k}")
             for k in contract.key]
    if spec is not None and spec.incremental:
        if spec.cursor_column:
            whens.append(("_cursor IS NULL", f"missing_cursor:{spec.cursor_column}"))
        whens.append(("_tombstone", None))   # a deletion needs its key, nothing else
    for col in contract.columns:
        if not col.derived:
            whens += _column_rules(col, currencies, refs.get(col.name), as_of,
                                   zone_of(spec, col))
    return whens


def reason_sql(rules: list[tuple[str | None, str | None]]) -> str:
    """CASE expression giving each row its first failing check of ``rules`` (``_rules``;
    NULL = row is good), bar the reference checks (``_orphans``)."""
    body = " ".join(f"WHEN {cond} THEN " + ("NULL" if reason is None else f"'{reason}'")
                    for cond, reason in rules if cond is not None)
    return f"CASE {body} END"


def _survivors(con, table: str, survivors: tuple) -> None:
    """Replace merged customer ids by their survivor's (``merge_map``) in ``survivors``,
    the columns holding customer ids; their raw text keeps the id the source gave.

    An UPDATE of the checked table, not a join in the pass: DuckDB does not keep a join's
    rows in order, and the table must lie in source order (a few rows change: ~250k of 50M
    events at 1M customers, 1.5 s)."""
    for col in survivors:
        c = _q(col)
        con.execute(f"UPDATE {table} SET {c} = m.survivor_id FROM merge_map m "
                    f"WHERE {table}.{c} = m.merged_id")


def _orphans(con, table: str, rules: list, refs: dict[str, str],
             spec: SourceSpec | None) -> None:
    """Give ``orphan:<column>`` to the rows whose reference is unknown, where that check
    comes first: the row has no reason yet, or one from a check tried after it. A
    tombstone (a deletion) needs its key only."""
    reasons = [reason for _, reason in rules if reason is not None]
    live = " AND NOT _tombstone" if spec is not None and spec.incremental else ""
    for column, ref in refs.items():
        reason = f"orphan:{column}"
        if reason not in reasons:
            continue
        later = reasons[reasons.index(reason) + 1:]
        retry = f" OR _reason IN ({_lit(later)})" if later else ""
        c = _q(column)
        con.execute(f"UPDATE {table} SET _reason = '{reason}' WHERE (_reason IS NULL{retry})"
                    f"{live} AND {c} IS NOT NULL AND {c} NOT IN (SELECT id FROM {ref})")


def check_rows(con, typed: str, contract: Contract, currencies: list[str],
               refs: dict[str, str], as_of: datetime | None = None,
               spec: SourceSpec | None = None, survivors: tuple = ()) -> str:
    """Create table ``checked_<table>``: _row, the typed columns and ``_reason``.

    Raw text is read from ``typed`` for the checks but not stored (bar identifiers), which
    halves the table: the quarantine reads the original text of its rows again from
    ``typed`` (``pipeline._quarantine_sql``), a scan of the source's columns joined to the
    few quarantined rows. Holding it in the table instead (a struct, null for the good
    rows) cost more than that scan: 50M engagement events, about 4 s of a 22 s pass.

    Duplicate keys are judged among otherwise good rows only, so the first good occurrence
    (in source order) is kept and later copies are quarantined. They are found by grouping
    the good keys and updating only their later copies, not by a window sort of every row.
    The checks that need a join (merged customer ids, unknown references) run after the
    pass, as updates, so that the pass stays parallel and its table in source order.
    """
    name = f"checked_{contract.table}"
    rules = _rules(contract, currencies, refs, as_of, spec)
    kept = ["_row"] + [_q(c.name) for c in contract.columns if not c.derived]
    kept += [f"{raw_text(_q(raw(c.name)))} AS {_q(raw(c.name))}"      # for their warnings
             for c in contract.columns if c.identifier]
    if spec is not None and spec.incremental:
        kept += ["_cursor", "_tombstone"]
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {', '.join(kept)}, _reason "
                f"FROM (SELECT *, {reason_sql(rules)} AS _reason FROM {typed})")
    _survivors(con, name, survivors)
    _orphans(con, name, rules, refs, spec)
    unsettled = "true"
    if spec is not None and spec.incremental:
        _supersede(con, name, spec)
        unsettled = _unsettled(spec, contract)
    _duplicate_keys(con, name, contract, unsettled)
    return name


def _unsettled(spec: SourceSpec, contract: Contract) -> str:
    """SQL: the rows among which ``_supersede`` may have left a contract key twice.

    It leaves one version of each merge key whose columns are all present; where the merge
    key is some of the contract key's columns, rows with an equal contract key have an equal
    merge key, so only rows lacking a merge-key column can still share a contract key. The
    duplicate search then hashes and sorts those few rather than every row again (50M
    engagement events at 1M customers: one pass over every key, seconds, fewer)."""
    if not spec.key or not set(spec.key) <= set(contract.key):
        return "true"
    return "(" + " OR ".join(f"{_q(k)} IS NULL" for k in spec.key) + ")"


def _repeated_hashes(con, table: str, keys: str, where: str) -> bool:
    """Table ``_repeated``: the 64-bit hashes of ``keys`` seen more than once among the
    rows of ``table`` that match ``where``; whether there are any.

    Repeated keys are found by their hash first, and only the rows of those hashes are
    then grouped by the keys themselves, so a hash collision costs a few more rows
    grouped, never a wrong answer. The hashes are sorted (``keyindex.sorted_parts``: two
    parts on two threads) and neighbours compared, not grouped by DuckDB: a hash aggregate
    of every key spills past the memory limit at tens of millions of rows (510M event ids
    at 10M customers, about 65 s of the full ingest). A table with no repeated hash (the
    usual case) is scanned once, not a second time to find nothing to update."""
    most = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    found = keyindex.repeated(*keyindex.sorted_parts(
        con, f"SELECT hash({keys}) AS h FROM {table} WHERE {where}", most))
    con.register("_repeated_found", pa.table({"h": pa.array(found, pa.uint64())}))
    con.execute("CREATE OR REPLACE TABLE _repeated AS SELECT h FROM _repeated_found")
    con.unregister("_repeated_found")
    return len(found) > 0


def _duplicate_keys(con, name: str, contract: Contract, among: str = "true") -> None:
    """Quarantine the later copies of a key among the good rows (``_repeated_hashes``)
    that match ``among`` (``_unsettled``: where no copy can be, none is looked for)."""
    keys = ", ".join(_q(k) for k in contract.key)
    same = " AND ".join(f"{name}.{_q(k)} IS NOT DISTINCT FROM d.{_q(k)}" for k in contract.key)
    if _repeated_hashes(con, name, keys, f"_reason IS NULL AND {among}"):
        con.execute(
            f"UPDATE {name} SET _reason = 'duplicate_key:{'+'.join(contract.key)}' FROM ("
            f"SELECT {keys}, min(_row) AS _first FROM {name} WHERE _reason IS NULL "
            f"AND hash({keys}) IN (SELECT h FROM _repeated) "
            f"GROUP BY ALL HAVING count(*) > 1) d "
            f"WHERE {name}._reason IS NULL AND {same} AND {name}._row <> d._first")
    con.execute("DROP TABLE _repeated")


def in_source_order(con, checked: str) -> bool:
    """Whether a checked table is stored in source order (row n holds ``_row`` n), as a
    table created from the ordered staging view is: its rows can then be written as they
    lie, without sorting tens of millions of wide rows by ``_row`` (the largest memory
    use of an ingest). Checked rather than assumed, so a plan that reordered them is
    still sorted."""
    return bool(con.execute(f"SELECT coalesce(bool_and(_row = rowid + 1), true) "
                            f"FROM {checked}").fetchall()[0][0])


SUPERSEDED = "superseded"   # an earlier version of a key in the same load: accepted, replaced


def _supersede(con, checked: str, spec: SourceSpec) -> None:
    """Of several versions of one key in a load, the latest (largest cursor, then last in
    source order: files are read in cursor order) is the one judged and kept; the earlier
    ones are marked superseded, whether or not they would pass. A load then ends where a
    sequence of smaller loads of the same rows ends, which is what makes a full rebuild
    equal the incremental loads before it."""
    keys = ", ".join(_q(k) for k in spec.key)
    present = " AND ".join(f"{_q(k)} IS NOT NULL" for k in spec.key)
    same = " AND ".join(f"c.{_q(k)} = d.{_q(k)}" for k in spec.key)
    # the keys with several versions first (by hash, then by key), so that only their rows
    # are sorted, not every row of the load
    if _repeated_hashes(con, checked, keys, present):
        con.execute(
            f"UPDATE {checked} SET _reason = '{SUPERSEDED}' FROM (SELECT _row FROM {checked} c "
            f"SEMI JOIN (SELECT {keys} FROM {checked} WHERE {present} AND hash({keys}) IN "
            f"(SELECT h FROM _repeated) GROUP BY ALL HAVING count(*) > 1) d ON {same} "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY _cursor DESC NULLS LAST, "
            f"_row DESC) > 1) s WHERE {checked}._row = s._row")
    con.execute("DROP TABLE _repeated")


def reason_counts(con, checked: str, rejected: str | None = None) -> dict[str, int]:
    """Quarantined rows by reason: the checked rows', plus lines the CSV reader refused
    (superseded versions are not quarantined)."""
    sql = (f"SELECT _reason FROM {checked} WHERE _reason IS NOT NULL "
           f"AND _reason <> '{SUPERSEDED}'")
    if rejected:
        sql += f" UNION ALL SELECT reason FROM {rejected}"
    rows = con.execute(f"SELECT _reason, count(*) FROM ({sql}) GROUP BY 1 ORDER BY 2 DESC, 1"
                       ).fetchall()
    return {reason: int(n) for reason, n in rows}
