"""One definition, two dialects: the DuckDB SQL a project writes, translated for Spark SQL.

Feature view SQL (and the relations of ``config/derived.yaml``) and template ``where``
clauses are written once, in the DuckDB dialect the docs teach. For ``engine: spark`` they are
translated with SQLGlot (docs/scale-out.md has the rules).

SQLGlot's own output is not trusted: it passes unknown functions through unchanged and
renders some constructs silently wrongly for Spark (an ``ASOF JOIN`` comes out as text Spark
cannot run; ``date_diff('day', ...)`` as Spark's whole-24-hour count where DuckDB counts
calendar days; ``strftime('%j')`` as Spark's two-digit day of year; ``dayofweek`` one day
off). So the parsed tree is walked first against an allow-list of constructs whose Spark
meaning is the same as DuckDB's, some are rewritten into tested equivalents, and anything
else is refused with a ``Problem`` naming the construct and its line: a project learns at
``templates check`` time, not from a cluster's different answer.

Equivalents (golden translations in tests/core/test_core_dialects.py):

- ``to_days(n)``: ``INTERVAL '1' DAY * n``; ``to_microseconds(n)``: ``INTERVAL '0.000001'
  SECOND * n`` (Spark multiplies day-time intervals exactly).
- ``days_between(a, b)`` (segflow's macro, segflow.featurestore.engine): the same double
  arithmetic over ``unix_micros``, so both engines floor the same value.
- ``ASOF JOIN``: an interval join. Each right row is valid from its time until the next
  right row of the same key (``LEAD`` over the key), so a left row meets exactly the row an
  ASOF join would pick; ``ASOF LEFT JOIN`` becomes a ``LEFT JOIN``.
- ``date_diff('day', a, b)``: ``datediff(CAST(b AS DATE), CAST(a AS DATE))``;
  ``dayofweek(x)``: ``dayofweek(x) - 1`` (DuckDB counts Sunday as 0, Spark as 1).
- Table and scalar macros of ``derived.yaml`` (``CREATE MACRO``): inlined where called.

Both engines must run in UTC (segflow.engines requires ``spark.sql.session.timeZone=UTC``):
day windows and calendar intervals are computed in the session time zone.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

READ, WRITE = "duckdb", "spark"
ASOF_NEXT = "__asof_bound"  # the neighbouring right row's time: next (LEAD) or previous (LAG)
ASOF_INNER = "__asof"

# Constructs whose Spark SQL rendering means what DuckDB means (Spark 3.5 and later).
QUERY = (
    exp.Select, exp.From, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered,
    exp.Limit, exp.With, exp.CTE, exp.Subquery, exp.TableAlias, exp.Table, exp.Alias,
    exp.Union, exp.Distinct, exp.Window, exp.Filter, exp.Qualify, exp.Join, exp.IgnoreNulls,
    exp.Values,  # an inline table, (VALUES (...), ...) AS t(a, b): Spark's VALUES ... AS t(a, b)
)
LEAVES = (
    exp.Column, exp.Identifier, exp.Star, exp.Literal, exp.Boolean, exp.Null,
    exp.Placeholder, exp.DataType, exp.DataTypeParam, exp.Var, exp.Tuple, exp.Array,
)
OPERATORS = (
    exp.Paren, exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.NullSafeEQ, exp.NullSafeNEQ, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg,
    exp.DPipe,
    exp.Between, exp.In, exp.Is, exp.Like, exp.ILike, exp.Case, exp.If, exp.Cast,
    exp.TryCast, exp.Interval,
)
FUNCTIONS = (
    exp.Coalesce, exp.Nullif, exp.Count, exp.CountIf, exp.Sum, exp.Min, exp.Max, exp.Avg,
    exp.LogicalOr, exp.LogicalAnd, exp.AnyValue, exp.ArgMin, exp.ArgMax, exp.ArrayContains,
    exp.RowNumber, exp.Rank, exp.DenseRank, exp.Lead, exp.Lag, exp.Lower, exp.Upper,
    exp.Length, exp.Trim, exp.Floor, exp.Ceil, exp.Abs, exp.Sqrt, exp.Ln, exp.Exp,
    exp.Pow, exp.Greatest, exp.Least, exp.Substring, exp.StartsWith, exp.RegexpLike,
    exp.Year, exp.Month, exp.Day, exp.CurrentDate, exp.CurrentTimestamp, exp.DateTrunc,
    exp.TimestampTrunc, exp.Extract, exp.DateDiff, exp.DayOfWeek, exp.TimeToStr, exp.ToDays,
    # governance's SQL (movement, controls, exports): the same meaning in both engines
    exp.SplitPart, exp.Split, exp.SHA, exp.SHA2, exp.RegexpReplace, exp.ConcatWs,
    exp.GroupConcat,  # string_agg(x, sep ORDER BY ...): Spark 4 listagg ... WITHIN GROUP
    exp.Explode,  # unnest(list) in a SELECT list: Spark's explode (a row per element)
    exp.MD5,  # RFC 1321's digest of the text's UTF-8 bytes, as 32 lower-case hex digits
    exp.Variance,  # var_samp: the sample variance (n - 1), NULL for one row, in both
)
ALLOWED = QUERY + LEAVES + OPERATORS + FUNCTIONS
INTERVAL_UNITS = {"YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"}
EXTRACT_UNITS = {"YEAR", "QUARTER", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"}
# strftime directives whose Spark date_format pattern prints the same text
STRFTIME_SAFE = {"%Y", "%m", "%d", "%H", "%M", "%S", "%y", "%b", "%B", "%a", "%A", "%-m",
                 "%-d", "%I", "%p", "%%"}
T = exp.DataType.Type
TYPES = {T.BOOLEAN, T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.FLOAT, T.DOUBLE, T.DECIMAL,
         T.TEXT, T.VARCHAR, T.CHAR, T.DATE, T.TIMESTAMP, T.TIMESTAMPTZ, T.ARRAY}
JOIN_SIDES = {None, "", "LEFT", "RIGHT", "FULL"}
JOIN_KINDS = {None, "", "INNER", "OUTER", "CROSS", "SEMI", "ANTI"}  # Spark: [LEFT] SEMI|ANTI
REWRITTEN = {"to_days", "to_microseconds", "days_between"}  # names written as functions
# Function names DuckDB users reach for that SQLGlot leaves unparsed, with the Spark spelling
# to use instead where there is one: said in the error, so the fix is one edit away.
HINTS = {
    "list_aggregate": "Spark has no list_aggregate; aggregate before collecting a list",
    "regexp_full_match": "anchor the pattern and use regexp_matches(x, '^...$')",
    "epoch_us": "use days_between() for day counts",
    "hash": "the hash differs between engines; segflow's stable draws use md5",
    "round": "the engines may round a half of a DOUBLE differently; compare unrounded "
             "values, or round in the feature view",
}


@dataclass(frozen=True)
class Problem:
    """A construct with no Spark equivalent, at a 1-based line of the SQL (None if unknown)."""

    line: int | None
    construct: str
    why: str

    def __str__(self) -> str:
        return f"`{self.construct}` has no Spark SQL equivalent: {self.why}"


class Untranslatable(ValueError):
    """SQL that cannot be translated for Spark; ``problems`` says what and where."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"line {p.line}: {p}" if p.line else str(p)
                                   for p in problems))


@dataclass(frozen=True)
class Macro:
    """A ``CREATE MACRO`` of derived.yaml: parameter names and body (a query for a table
    macro, an expression for a scalar one), inlined where it is called."""

    name: str
    params: tuple[str, ...]
    body: exp.Expression


def parse(sql: str) -> list[exp.Expression]:
    """DuckDB SQL as trees; a syntax error is a Problem at its line."""
    try:
        return [s for s in sqlglot.parse(sql, read=READ) if s is not None]
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        raise Untranslatable([Problem(first.get("line"), "syntax",
                                      str(first.get("description", err)))]) from None


def problems(tree: exp.Expression, sql: str = "",
             macros: dict[str, Macro] | None = None) -> list[Problem]:
    """Every construct of ``tree`` with no Spark equivalent, one per refused node."""
    macros = macros or {}
    found: list[Problem] = []
    refused: set[int] = set()
    for node in tree.walk(prune=lambda n: id(n) in refused):
        why = _refusal(node, macros)
        if why is not None:
            refused.add(id(node))
            found.append(Problem(line_of(node, sql), _shown(node), why))
    return found


def _refusal(node: exp.Expression, macros: dict[str, Macro]) -> str | None:
    """Why ``node`` cannot be translated, or None when it can."""
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name in REWRITTEN or name in macros:
            return None
        return HINTS.get(name, "a DuckDB function Spark SQL does not have (or whose meaning "
                               "differs there); see docs/scale-out.md for what translates")
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous):
        return None if node.this.name.lower() in macros else "a table function"
    if isinstance(node, exp.ReadParquet):  # Spark reads one path as parquet.`path`
        args = node.expressions
        return None if len(args) == 1 and isinstance(args[0], exp.Literal) and \
            args[0].is_string else "read_parquet of one literal path translates, no more"
    if isinstance(node, exp.Func) and isinstance(node.parent, exp.Table) and \
            node.arg_key == "this":
        return "a table function; read the table as one of the view's sources instead"
    if not isinstance(node, ALLOWED):
        return HINTS.get(_shown(node).lower(), "not among the constructs segflow translates "
                         "(docs/scale-out.md)")
    return _detail(node)


def _detail(node: exp.Expression) -> str | None:
    """Allowed node types whose meaning still depends on an argument."""
    if isinstance(node, exp.Join):
        if node.args.get("method") and node.args["method"].upper() != "ASOF":
            return f"{node.args['method']} joins are DuckDB's own"
        if (node.side or None) not in JOIN_SIDES or (node.kind or None) not in JOIN_KINDS:
            return "this join kind is DuckDB's own"
        return _asof_refusal(node) if _is_asof(node) else None
    if isinstance(node, exp.SplitPart):
        part = node.args.get("part_index")
        return None if isinstance(part, exp.Literal) and part.is_int and int(part.name) > 0 \
            else "split_part's part must be a positive number (DuckDB and Spark count " \
            "negative parts differently)"
    if isinstance(node, exp.RegexpReplace):
        flags = node.args.get("modifiers")
        return None if isinstance(flags, exp.Literal) and flags.name == "g" else \
            "regexp_replace without the 'g' flag replaces the first match in DuckDB and " \
            "every match in Spark; write regexp_replace(x, pattern, replacement, 'g')"
    if isinstance(node, exp.Explode):
        item = node.parent if isinstance(node.parent, exp.Alias) else node
        return None if isinstance(item.parent, exp.Select) and item.arg_key == "expressions" \
            else "unnest translates only as an item of a SELECT list (Spark's explode)"
    if isinstance(node, exp.SHA2):
        length = node.args.get("length")
        return None if length is None or length.name == "256" else "only sha256 translates"
    if isinstance(node, exp.Union) and node.args.get("by_name"):
        return "UNION BY NAME is DuckDB's own; list the columns in the same order"
    if isinstance(node, exp.Distinct) and node.args.get("on"):
        return "DISTINCT ON is DuckDB's own; keep one row per key with row_number()"
    if isinstance(node, exp.DataType):
        return None if node.this in TYPES else f"Spark has no {node.sql(READ)} type; use " \
            "BOOLEAN, an INTEGER type, DOUBLE, DECIMAL, VARCHAR, DATE, TIMESTAMP(TZ) or a list"
    if isinstance(node, exp.Interval):
        unit = (node.unit.name if node.unit else "").upper().rstrip("S")
        return None if unit in INTERVAL_UNITS else "use an INTERVAL of YEAR, MONTH, DAY, " \
            "HOUR, MINUTE or SECOND"
    if isinstance(node, exp.Extract):
        unit = node.this.name.upper()
        return None if unit in EXTRACT_UNITS else f"extract({unit}) counts differently in " \
            "Spark; use year, quarter, month, day, hour, minute or second"
    if isinstance(node, exp.DateDiff):
        unit = (node.unit.name if node.unit else "DAY").upper()
        return None if unit == "DAY" else f"date_diff('{unit.lower()}') counts calendar " \
            "boundaries in DuckDB and whole units in Spark; only 'day' translates"
    if isinstance(node, exp.TimeToStr):
        fmt = node.args.get("format")
        if not isinstance(fmt, exp.Literal):
            return "the format must be a literal string"
        bad = sorted(set(_directives(fmt.this)) - STRFTIME_SAFE)
        return f"strftime directive(s) {', '.join(bad)} print differently in Spark's " \
            f"date_format; use {' '.join(sorted(STRFTIME_SAFE - {'%%'}))}" if bad else None
    return None


def _directives(fmt: str) -> list[str]:
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            step = 3 if fmt[i + 1] == "-" and i + 2 < len(fmt) else 2
            out.append(fmt[i:i + step])
            i += step
        else:
            i += 1
    return out


def _shown(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name
    if isinstance(node, exp.Join) and node.args.get("method"):
        return f"{node.args['method'].upper()} JOIN"
    text = node.sql(READ)
    if isinstance(node, exp.Func) and "(" in text and not isinstance(node, exp.Cast):
        return text.split("(")[0].lower()  # the DuckDB spelling: strftime, not time_to_str
    return text[:60]


def line_of(node: exp.Expression, sql: str) -> int | None:
    """The 1-based line of a node in ``sql``, from SQLGlot's token positions."""
    if not sql:
        return None
    while node is not None:  # a node without a position of its own (a type): its parent's
        for candidate in (node, *node.find_all(exp.Identifier, exp.Literal, exp.Var)):
            start = getattr(candidate, "meta", {}).get("start")
            if start is not None:
                return sql[:start].count("\n") + 1
        node = node.parent
    return None


# --- rewrites -------------------------------------------------------------------------
def _spark(template: str, **args: exp.Expression) -> exp.Expression:
    """A Spark expression from a template whose ``__name`` columns are replaced by args."""
    tree = sqlglot.parse_one(template, read=WRITE)
    return tree.transform(lambda n: args[n.name[2:]].copy()
                          if isinstance(n, exp.Column) and n.name.startswith("__") else n)


def _rewrite(node: exp.Expression, macros: dict[str, Macro]) -> exp.Expression:
    name = node.name.lower() if isinstance(node, exp.Anonymous) else None
    if isinstance(node, exp.ToDays) or name == "to_days":
        arg = node.this if isinstance(node, exp.ToDays) else node.expressions[0]
        return exp.paren(_spark("INTERVAL '1' DAY * __n", n=exp.paren(arg)), copy=False)
    if name == "to_microseconds":
        return exp.paren(_spark("INTERVAL '0.000001' SECOND * __n",
                                n=exp.paren(node.expressions[0])), copy=False)
    if name == "days_between":
        a, b = node.expressions
        return _spark("CAST(FLOOR(CAST(UNIX_MICROS(__b) - UNIX_MICROS(__a) AS DOUBLE) "
                      "/ 86400000000.0) AS BIGINT)", a=a, b=b)
    if name in macros:
        return _inline(macros[name], node.expressions, as_table=False)
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous) and \
            node.this.name.lower() in macros:
        body = _inline(macros[node.this.name.lower()], node.this.expressions, as_table=True)
        return exp.Subquery(this=body, alias=node.args.get("alias") or
                            exp.TableAlias(this=exp.to_identifier(node.this.name)))
    if isinstance(node, exp.DateDiff):
        return exp.Anonymous(this="DATEDIFF", expressions=[
            exp.cast(node.this.copy(), "DATE"), exp.cast(node.expression.copy(), "DATE")])
    if isinstance(node, exp.DayOfWeek):
        return exp.paren(exp.Sub(this=exp.Anonymous(this="DAYOFWEEK",
                                                    expressions=[node.this.copy()]),
                                 expression=exp.Literal.number(1)), copy=False)
    if isinstance(node, exp.Select) and any(_is_asof(j) for j in node.args.get("joins") or []):
        return _unasof(node)
    if _is_list_in(node):
        # a template's list parameter (`x IN $regions`): DuckDB takes a list after IN,
        # Spark an array in array_contains (both NULL for a NULL x)
        return exp.ArrayContains(this=node.args["field"].copy(), expression=node.this.copy())
    if isinstance(node, exp.Div) and not _is_double(node.this):
        # DuckDB's / always gives a DOUBLE; Spark divides DECIMALs (365.25 is one) as
        # DECIMAL, rounded to 6 places: a DOUBLE dividend makes Spark divide as DuckDB does
        out = node.copy()
        out.set("this", exp.cast(node.this.copy(), "DOUBLE"))
        return out
    return node


def _is_list_in(node: exp.Expression) -> bool:
    return isinstance(node, exp.In) and isinstance(node.args.get("field"), exp.Placeholder)


def _is_double(node: exp.Expression) -> bool:
    return isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DOUBLE


def _inline(macro: Macro, args: list[exp.Expression], as_table: bool) -> exp.Expression:
    if len(args) != len(macro.params):
        raise Untranslatable([Problem(None, macro.name, f"takes {len(macro.params)} "
                                      f"argument(s), got {len(args)}")])
    values = dict(zip(macro.params, args, strict=True))
    body = macro.body.copy().transform(
        lambda n: values[n.name].copy() if isinstance(n, exp.Column) and not n.table
        and n.name in values else n)
    return body if as_table else exp.paren(body, copy=False)


def _is_asof(join: exp.Expression) -> bool:
    return isinstance(join, exp.Join) and (join.args.get("method") or "").upper() == "ASOF"


def _asof_parts(join: exp.Join):
    """(equalities, the inequality, right alias) of an ASOF join's ON, or a reason."""
    on, alias = join.args.get("on"), join.this.alias_or_name
    conds = list(on.flatten()) if isinstance(on, exp.And) else [on] if on else []
    ineq = [c for c in conds if isinstance(c, exp.GT | exp.GTE | exp.LT | exp.LTE)]
    eqs = [c for c in conds if isinstance(c, exp.EQ)]
    if len(ineq) != 1 or len(eqs) + 1 != len(conds):
        return "its ON must be equalities and exactly one >=, >, <= or < comparison"
    for cond in conds:
        sides = [cond.this, cond.expression]
        if not all(isinstance(s, exp.Column) and s.table for s in sides) or \
                [s.table == alias for s in sides].count(True) != 1:
            return f"each ON comparison must compare a column of {alias} with one of the " \
                   "left side, both as alias.column"
    return eqs, ineq[0], alias


def _asof_refusal(join: exp.Join) -> str | None:
    if not join.this.alias_or_name:
        return "give the right side of the ASOF JOIN an alias"
    parts = _asof_parts(join)
    if isinstance(parts, str):
        return parts
    select = join.parent
    stars = [e for e in select.expressions if isinstance(e, exp.Star) or
             (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))]
    if stars:
        return "name the selected columns (a * would include the join's helper column)"
    return None


def _side(cond: exp.Binary, alias: str, right: bool) -> exp.Column:
    """The column of a comparison on the right side (``alias``) of a join, or the other."""
    mine = cond.this.table == alias
    return cond.this if mine == right else cond.expression


def _unasof(select: exp.Select) -> exp.Select:
    """The ASOF joins of a SELECT as interval joins (see the module docstring)."""
    for join in select.args["joins"]:
        if not _is_asof(join):
            continue
        eqs, ineq, alias = _asof_parts(join)

        keys = [exp.column(_side(c, alias, True).name, ASOF_INNER) for c in eqs]
        rt, lt = _side(ineq, alias, True), _side(ineq, alias, False)
        # normalise to "left <op> right": the left row looks back (>, >=) or ahead (<, <=)
        op = type(ineq) if ineq.this is lt else {exp.GT: exp.LT, exp.GTE: exp.LTE,
                                                 exp.LT: exp.GT, exp.LTE: exp.GTE}[type(ineq)]
        back = op in (exp.GT, exp.GTE)
        over = exp.Window(this=(exp.Lead if back else exp.Lag)(
            this=exp.column(rt.name, ASOF_INNER)), partition_by=keys,
            order=exp.Order(expressions=[exp.Ordered(this=exp.column(rt.name, ASOF_INNER))]))
        source = join.this.copy()
        source.set("alias", exp.TableAlias(this=exp.to_identifier(ASOF_INNER)))
        inner = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(ASOF_INNER)),
                           exp.alias_(over, ASOF_NEXT)).from_(source)
        bound = exp.column(ASOF_NEXT, alias)
        # the next row's time bounds the match: left < next (looking back, >=) etc.
        edge = {exp.GTE: exp.LT, exp.GT: exp.LTE, exp.LTE: exp.GT, exp.LT: exp.GTE}[op]
        valid = exp.paren(exp.or_(exp.Is(this=bound.copy(), expression=exp.Null()),
                                  edge(this=lt.copy(), expression=bound)), copy=False)
        join.set("this", exp.Subquery(this=inner, alias=exp.TableAlias(
            this=exp.to_identifier(alias))))
        join.set("on", exp.and_(join.args["on"], valid))
        join.set("method", None)
    return select


def asof_as_interval_join(tree: exp.Expression) -> exp.Expression:
    """Only the ASOF joins of ``tree`` rewritten, the rest left in DuckDB's dialect: what
    the tests run on DuckDB beside the ASOF original to show both pick the same rows."""
    return tree.copy().transform(lambda n: _unasof(n) if isinstance(n, exp.Select) and any(
        _is_asof(j) for j in n.args.get("joins") or []) else n)


def rewrite(tree: exp.Expression, macros: dict[str, Macro] | None = None) -> exp.Expression:
    """The tree with every equivalent applied (still dialect-neutral nodes): what
    ``to_spark`` renders, and what the tests also run on DuckDB to prove an equivalent
    means the same. Refuses (``Untranslatable``) what ``problems`` finds."""
    macros = macros or {}
    found = problems(tree, "", macros)
    if found:
        raise Untranslatable(found)
    out = tree.copy()
    # SQLGlot does not descend into a node it just replaced: repeat until nothing is left
    # to rewrite (an argument of days_between, a macro calling a macro)
    for _ in range(10):
        if not any(_pending(n, macros) for n in out.walk()):
            return out
        out = out.transform(lambda n: _rewrite(n, macros))
    raise Untranslatable([Problem(None, "macro", "macros call each other without end")])


def _pending(node: exp.Expression, macros: dict[str, Macro]) -> bool:
    """Whether ``_rewrite`` would replace the node."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower() in REWRITTEN or node.name.lower() in macros
    if isinstance(node, exp.Table):
        return isinstance(node.this, exp.Anonymous)
    if isinstance(node, exp.Select):
        return any(_is_asof(j) for j in node.args.get("joins") or [])
    if isinstance(node, exp.Div):
        return not _is_double(node.this)
    return isinstance(node, exp.ToDays | exp.DateDiff | exp.DayOfWeek) or _is_list_in(node)


def render(tree: exp.Expression) -> str:
    """Spark SQL of a rewritten tree; SQLGlot's own refusals become Problems, and an ASOF
    join that survived (it must not) is refused rather than emitted."""
    if any(_is_asof(j) for j in tree.find_all(exp.Join)):
        raise Untranslatable([Problem(None, "ASOF JOIN", "left untranslated")])
    for cte in tree.find_all(exp.CTE):  # DuckDB's MATERIALIZED is a planner hint, same
        cte.set("materialized", None)   # result; Spark SQL cannot parse it
    try:
        return tree.sql(WRITE, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as err:
        raise Untranslatable([Problem(None, "construct", str(err))]) from None


def to_spark(sql: str, macros: dict[str, Macro] | None = None) -> str:
    """Spark SQL for DuckDB SQL (one or more statements, ';'-separated); ``$name`` params
    become ``:name`` (Spark 3.4+ named parameters). Raises ``Untranslatable``."""
    trees = parse(sql)
    out = []
    for tree in trees:
        found = problems(tree, sql, macros)
        if found:
            raise Untranslatable(found)
        out.append(render(rewrite(tree, macros)))
    return ";\n".join(out)


def predicate_to_spark(tree: exp.Expression, sql: str) -> tuple[str | None, list[Problem]]:
    """A template's parsed ``where`` predicate as Spark SQL, or the problems (lines of
    ``sql``, the predicate text) that stop it."""
    found = problems(tree, sql)
    if found:
        return None, found
    try:
        return render(rewrite(tree)), []
    except Untranslatable as err:
        return None, err.problems


def macros_of(statements: list[exp.Expression]) -> dict[str, Macro]:
    """The ``CREATE MACRO`` statements among parsed statements, by lower-case name."""
    out = {}
    for stmt in statements:
        if isinstance(stmt, exp.Create) and (stmt.args.get("kind") or "").upper() == "MACRO":
            udf = stmt.this  # UserDefinedFunction(this=Table(name), expressions=params)
            name = udf.this.name.lower()
            out[name] = Macro(name,
                                          tuple(p.name for p in udf.expressions),
                                          stmt.expression)
    return out


def derived_to_spark(sql: str, macros: dict[str, Macro]) -> str | None:
    """A derived.yaml relation for Spark: ``CREATE VIEW`` becomes a temporary view; a
    ``CREATE MACRO`` becomes None (it is inlined where called, see ``macros_of``)."""
    (stmt,) = parse(sql)
    if not isinstance(stmt, exp.Create):
        raise Untranslatable([Problem(1, stmt.key, "a derived relation is CREATE VIEW or "
                                      "CREATE MACRO")])
    kind = (stmt.args.get("kind") or "").upper()
    if kind == "MACRO":
        found = problems(stmt.expression, sql, macros)
        if found:
            raise Untranslatable(found)
        return None
    if kind != "VIEW":
        raise Untranslatable([Problem(1, f"CREATE {kind}", "a derived relation is CREATE "
                                      "VIEW or CREATE MACRO")])
    query = stmt.expression
    found = problems(query, sql, macros)
    if found:
        raise Untranslatable(found)
    body = render(rewrite(query, macros))
    return f"CREATE OR REPLACE TEMPORARY VIEW {stmt.this.sql(WRITE)} AS {body}"


# --- a project's files ------------------------------------------------------------------
def _file_error(path, first_line: int | None, problems: list[Problem]):
    """A ConfigError at the file line of the first problem, naming every problem."""
    from segflow.errors import ConfigError

    lines = [first_line + p.line - 1 if first_line and p.line else first_line
             for p in problems]
    more = "; ".join(f"line {n}: {p}" if n else str(p) for n, p in zip(lines[1:], problems[1:],
                                                                        strict=True))
    return ConfigError(path, lines[0], f"Spark SQL: {problems[0]}" + (f"; {more}" if more
                                                                      else ""))


def derived_for_spark(path) -> tuple[dict[str, Macro], dict[str, str]]:
    """A repo's ``config/derived.yaml`` for Spark: its macros (inlined where views call
    them) and its views as ``CREATE OR REPLACE TEMPORARY VIEW`` statements, by name, in file
    order. An error names the file and line."""
    from pathlib import Path

    from segflow.yamlio import load_yaml

    path = Path(path)
    if not path.exists():
        return {}, {}
    doc = load_yaml(path) or {}
    parsed = {}
    for name, spec in doc.items():
        first = spec.line("sql") + 1 if hasattr(spec, "line") else None  # the block's text
        try:
            parsed[name] = (spec["sql"], first, parse(spec["sql"]))
        except Untranslatable as err:
            raise _file_error(path, first, err.problems) from None
    macros = macros_of([s for _, _, stmts in parsed.values() for s in stmts])
    views = {}
    for name, (sql, first, _) in parsed.items():
        try:
            spark = derived_to_spark(sql, macros)
        except Untranslatable as err:
            raise _file_error(path, first, err.problems) from None
        if spark is not None:
            views[name] = spark
    return macros, views


def view_to_spark(path, sql: str, macros: dict[str, Macro] | None = None) -> str:
    """A feature view's SQL for Spark; an error names the view file and the line there."""
    from pathlib import Path

    try:
        return to_spark(sql, macros)
    except Untranslatable as err:
        text = Path(path).read_text(encoding="utf-8") if Path(path).exists() else ""
        at = text.find(sql.strip())
        first = text[:at].count("\n") + 1 if at >= 0 else None
        stripped = len(sql) - len(sql.lstrip("\n"))  # lines before the text found in the file
        raise _file_error(path, first - sql[:stripped].count("\n") if first else None,
                          err.problems) from None
