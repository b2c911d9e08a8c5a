"""Type-checking a predicate before anything runs: DuckDB itself binds it.

``templates check`` used to pass a ``where`` that named known columns and allowed functions
but could not run: ``lifetime_spend`` alone (a number, not a condition), ``'abc'``, a cast
to a type that does not exist, a regex with an invalid repetition. Preview then failed
after 20 s with DuckDB's own errors. Rather than re-implement DuckDB's type rules, the
compiled predicate is run by DuckDB over one row of typed NULLs shaped like the feature
frame (each column with its family's type; a column of unknown type as NULL, which binds
with anything), with the params bound to their typed values exactly as preview binds them.
Binding checks types, casts and function signatures; constant regex patterns are compiled
when bound. The result must be a boolean. A failure is reported at the clause (top-level
AND) that fails, so the file line points at it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

from segflow.scoring import predicate
from segflow.scoring.sqlparts import quote

# a column family (segflow.scoring.columns) -> the DuckDB type its values have in the frame
DUCKDB_TYPE = {"numeric": "DOUBLE", "string": "VARCHAR", "bool": "BOOLEAN",
               "timestamp": "TIMESTAMPTZ"}
_PREFIX = re.compile(r"^[A-Za-z ]*(Error|Exception): ")


class Frames:
    """One DuckDB connection holding a one-row typed-NULL frame per column set."""

    def __init__(self) -> None:
        import duckdb

        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self._tables: dict[tuple, str] = {}

    def table(self, columns: dict[str, str]) -> str:
        key = tuple(sorted(columns.items()))
        if key not in self._tables:
            name = f"frame_{len(self._tables)}"
            cols = ", ".join(f"CAST(NULL AS {DUCKDB_TYPE[fam]}) AS {quote(c)}"
                             if fam in DUCKDB_TYPE else f"NULL AS {quote(c)}"
                             for c, fam in columns.items()) or "NULL AS _none"
            self.con.execute(f"CREATE TABLE {name} AS SELECT {cols}")
            self._tables[key] = name
        return self._tables[key]

    def result_type(self, sql: str, table: str, params: dict[str, Any]) -> str:
        """DuckDB's type of ``sql`` over the frame; raises DuckDB's error when it cannot."""
        relation = self.con.sql(f"SELECT ({sql}) AS p FROM {table}", params=params)
        relation.fetchall()   # runs the expression: constant patterns are compiled
        return str(relation.types[0])

    def close(self) -> None:
        self.con.close()


def _message(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = _PREFIX.sub("", text)
    if "repetition" in text or "missing )" in text or "regexp" in text.lower():
        return f"invalid regular expression: {text}"
    return text


def _bind(frames: Frames, node: exp.Expression, table: str,
          values: dict[str, Any]) -> tuple[str | None, str | None]:
    """(DuckDB's type of the node, None) or (None, why DuckDB cannot run it)."""
    import duckdb

    params = {f"t_{name}": values[name] for name in predicate.params_used(node)
              if name in values}
    try:
        return frames.result_type(predicate.compile_sql(node, "t_"), table, params), None
    except duckdb.Error as err:
        return None, _message(err)


def type_issues(frames: Frames, tree: exp.Expression, sql: str, columns: dict[str, str],
                values: dict[str, Any]) -> list[predicate.Issue]:
    """Problems DuckDB finds binding the predicate over ``columns`` (name -> family) with
    ``values`` for its params: none when it is a well-typed condition."""
    table = frames.table(columns)
    kind, error = _bind(frames, tree, table, values)
    if error is not None:
        issues = []
        for part in predicate.split_clauses(tree):
            _, why = _bind(frames, part, table, values)
            if why is not None:
                issues.append(predicate.Issue(predicate._line(part, sql),
                                              f"'{part.sql('duckdb')[:60]}' cannot run: {why}"))
        return issues or [predicate.Issue(1, f"cannot run: {error}")]
    if kind not in ("BOOLEAN", '"NULL"', "NULL"):
        return [predicate.Issue(1, f"must be a condition (true or false), but "
                                   f"'{tree.sql('duckdb')[:40]}' is a {kind}: compare it, "
                                   "e.g. `... > 5000`")]
    return []
