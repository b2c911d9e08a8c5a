"""One definition, two dialects: feature views, derived relations and template clauses,
written in DuckDB SQL, translate to Spark SQL; the equivalents mean what DuckDB means; what
has no Spark equivalent is refused by name and line, including at `templates check`."""

from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from holi_project import ROOT

from segflow import dialects
from segflow.cli import run
from segflow.errors import ConfigError
from segflow.featurestore.repo import load_repo, view_files
from segflow.project import load_project
from segflow.scoring.predicate import parse
from segflow.scoring.templates import load_template
from segflow.settings import Settings
from segflow.starters import init_project, starter_root

BLANK = starter_root("blank")
PROJECTS = {"holi": ROOT, "blank": BLANK}


def _templates():
    for name, root in PROJECTS.items():
        folder = load_project(root).path("segment_templates")
        yield from (pytest.param(p, id=f"{name}/{p.stem}") for p in sorted(folder.glob("*.yaml")))


def _views():
    for name, root in PROJECTS.items():
        folder = load_project(root).path("feature_repo")
        yield from (pytest.param(name, p.stem, id=f"{name}/{p.stem}") for p in view_files(folder))


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    """Each project's loaded feature repo and its derived relations for Spark."""
    out = {}
    for name, root in PROJECTS.items():
        settings = Settings(home=tmp_path_factory.mktemp(name), project=load_project(root))
        derived = settings.feature_repo_dir / "config" / "derived.yaml"
        out[name] = (load_repo(settings), *dialects.derived_for_spark(derived))
    return out


@pytest.mark.parametrize("path", _templates())
def test_every_shipped_template_clause_translates(path):
    from segflow.scoring.schema import Problems

    template = load_template(path, Problems())
    tree, issues = parse(template.where)
    assert not issues
    sql, problems = dialects.predicate_to_spark(tree, template.where)
    assert problems == [] and sql
    assert "$" not in sql and all(f":{p}" in sql for p in template.params
                                  if f"${p}" in template.where)


@pytest.mark.parametrize("project, view", _views())
def test_every_shipped_feature_view_translates(repos, project, view):
    repo, macros, _views = repos[project]
    spark = dialects.view_to_spark(repo.views[view].path, repo.views[view].transformation.sql,
                                   macros)
    again = sqlglot.parse_one(spark, read="spark")  # Spark's parser takes what we wrote
    assert not [j for j in again.find_all(sqlglot.exp.Join) if j.args.get("method")]
    for name in ("TO_DAYS", "DAYS_BETWEEN", "LIST_CONTAINS", "$", "::"):
        assert name not in spark.upper()


def test_derived_relations_become_temporary_views_and_macros_are_inlined(repos):
    repo, macros, views = repos["holi"]
    assert list(views) == ["billing_rollup", "top_accounts"]
    assert views["top_accounts"].startswith("CREATE OR REPLACE TEMPORARY VIEW top_accounts AS "
                                            "SELECT a.* FROM accounts AS a LEFT JOIN")
    assert list(macros) == ["account_billing_windows"]
    growth = dialects.to_spark(repo.views["account_growth"].transformation.sql, macros)
    assert "LEFT JOIN (SELECT top_account_id AS account_id," in growth
    assert "FROM billing_rollup WHERE invoice_date < :as_of AND invoice_date >= :as_of - " \
           "INTERVAL '24' MONTH GROUP BY ALL) AS w USING (account_id)" in growth


def test_the_accounts_starter_translates_whole(tmp_path):
    project = load_project(init_project(tmp_path / "b2b", "accounts").root)
    settings = Settings(home=tmp_path / "ws", project=project)
    macros, views = dialects.derived_for_spark(settings.feature_repo_dir / "config" /
                                               "derived.yaml")
    repo = load_repo(settings)
    assert sorted(repo.views) == ["account_flags", "account_growth", "account_product_mix",
                                  "account_revenue", "account_tenure"]
    assert all(dialects.view_to_spark(v.path, v.transformation.sql, macros)
               for v in repo.views.values())
    from segflow.scoring.schema import Problems

    templates = sorted(settings.templates_dir.glob("*.yaml"))
    assert len(templates) == 6
    for path in templates:
        template = load_template(path, Problems())
        assert dialects.predicate_to_spark(parse(template.where)[0], template.where)[1] == []


@pytest.mark.parametrize("duckdb_sql, spark_sql", [
    ("SELECT ts >= $as_of - to_days(CAST($n AS INTEGER)) FROM t",
     "SELECT ts >= :as_of - (INTERVAL '1' DAY * (CAST(:n AS INT))) FROM t"),
    ("SELECT ts >= $min_ts - to_microseconds($ttl) FROM t",
     "SELECT ts >= :min_ts - (INTERVAL '0.000001' SECOND * (:ttl)) FROM t"),
    ("SELECT days_between(a.last_ts, $as_of) AS d FROM a",
     "SELECT CAST(FLOOR(CAST(UNIX_MICROS(:as_of) - UNIX_MICROS(a.last_ts) AS DOUBLE) / "
     "86400000000.0) AS BIGINT) AS d FROM a"),
    ("SELECT date_diff('day', a, b), datediff('day', a, b) FROM t",
     "SELECT DATEDIFF(CAST(b AS DATE), CAST(a AS DATE)), DATEDIFF(CAST(b AS DATE), "
     "CAST(a AS DATE)) FROM t"),
    ("SELECT dayofweek(ts) FROM t", "SELECT (DAYOFWEEK(ts) - 1) FROM t"),
    ("SELECT k FROM t ORDER BY md5(CAST(k AS VARCHAR) || ':' || $seed), k LIMIT 3",
     "SELECT k FROM t ORDER BY MD5(CAST(k AS STRING) || ':' || :seed) NULLS LAST, k NULLS LAST "
     "LIMIT 3"),
    ("SELECT e.id, f.v FROM e ASOF JOIN f ON e.k = f.k AND e.ts >= f.ts",
     "SELECT e.id, f.v FROM e JOIN (SELECT __asof.*, LEAD(__asof.ts) OVER (PARTITION BY "
     "__asof.k ORDER BY __asof.ts NULLS LAST) AS __asof_bound FROM f AS __asof) AS f ON "
     "(e.k = f.k AND e.ts >= f.ts) AND (f.__asof_bound IS NULL OR e.ts < f.__asof_bound)"),
    ("SELECT e.id, f.v FROM e ASOF LEFT JOIN f ON f.k = e.k AND f.ts <= e.ts",
     "SELECT e.id, f.v FROM e LEFT JOIN (SELECT __asof.*, LEAD(__asof.ts) OVER (PARTITION BY "
     "__asof.k ORDER BY __asof.ts NULLS LAST) AS __asof_bound FROM f AS __asof) AS f ON "
     "(f.k = e.k AND f.ts <= e.ts) AND (f.__asof_bound IS NULL OR e.ts < f.__asof_bound)"),
    ("SELECT k, count(*) FILTER (WHERE a) AS n, any_value(z) AS z, arg_min(c, p) AS c, "
     "bool_or(b) AS b, x::DOUBLE AS x FROM t WHERE list_contains($xs, s) GROUP BY ALL",
     "SELECT k, COUNT(*) FILTER(WHERE a) AS n, ANY_VALUE(z) IGNORE NULLS AS z, MIN_BY(c, p) AS "
     "c, BOOL_OR(b) AS b, CAST(x AS DOUBLE) AS x FROM t WHERE ARRAY_CONTAINS(:xs, s) GROUP BY "
     "ALL"),
    # governance's SQL (segflow.sqlengine runs it on Spark)
    ("SELECT split_part(c, '__', 1), a IS DISTINCT FROM b FROM m SEMI JOIN f USING (k) "
     "ANTI JOIN g USING (k)",
     "SELECT SPLIT_PART(c, '__', 1), a IS DISTINCT FROM b FROM m SEMI JOIN f USING (k) "
     "ANTI JOIN g USING (k)"),
    ("SELECT sha256(lower(e)), regexp_replace(p, '[^0-9]', '', 'g') FROM m JOIN "
     "(VALUES ('a', 'email')) cc(base, channel) ON cc.base = m.c",
     "SELECT SHA2(LOWER(e), 256), REGEXP_REPLACE(p, '[^0-9]', '') FROM m JOIN VALUES "
     "('a', 'email') AS cc(base, channel) ON cc.base = m.c"),
    ("SELECT e, string_agg(r, '; ' ORDER BY s DESC, o), string_agg(DISTINCT c, ',' ORDER BY "
     "c), concat_ws(', ', a, b), sha1(k) FROM t GROUP BY e, a, b, k",
     "SELECT e, LISTAGG(r, '; ') WITHIN GROUP (ORDER BY s DESC, o NULLS LAST), LISTAGG("
     "DISTINCT c, ',') WITHIN GROUP (ORDER BY c NULLS LAST), CONCAT_WS(', ', a, b), SHA(k) "
     "FROM t GROUP BY e, a, b, k"),
    ("SELECT k, unnest(string_split(c, ',')) AS x FROM t",
     "SELECT k, EXPLODE(SPLIT(c, CONCAT('\\\\Q', ',', '\\\\E'))) AS x FROM t"),
    # the account-manager hand-off's planner hint (the same result without it)
    ("WITH j AS MATERIALIZED (SELECT k FROM t) SELECT * FROM j",
     "WITH j AS (SELECT k FROM t) SELECT * FROM j"),
])
def test_golden_translations_of_the_constructs_that_need_an_equivalent(duckdb_sql, spark_sql):
    assert dialects.to_spark(duckdb_sql) == spark_sql


def _asof_world(con, seed: int) -> None:
    """Left rows (ties in time, keys without a right row, null times) and right rows
    unique per (key, time), as a feature snapshot file is."""
    rnd = random.Random(seed)
    left = [(i, rnd.choice("abcd"), rnd.choice([None, *range(0, 60, 3)])) for i in range(300)]
    right = {(k, t): rnd.random() for k in "abc" for t in rnd.sample(range(0, 60), 8)}
    e = pa.table({"id": [r[0] for r in left], "k": [r[1] for r in left],
                  "ts": pa.array([r[2] for r in left], pa.int32())})
    f = pa.table({"k": [k for k, _ in right], "ts": pa.array([t for _, t in right], pa.int32()),
                  "v": list(right.values())})
    con.register("e_in", e)
    con.register("f_in", f)
    con.execute("CREATE TABLE e AS SELECT * FROM e_in")
    con.execute("CREATE TABLE f AS SELECT * FROM f_in")


@pytest.mark.parametrize("join", ["ASOF JOIN", "ASOF LEFT JOIN"])
@pytest.mark.parametrize("cond", ["e.ts >= f.ts", "e.ts > f.ts", "e.ts <= f.ts", "e.ts < f.ts",
                                  "f.ts <= e.ts"])
def test_the_asof_equivalent_picks_the_rows_duckdb_asof_picks(join, cond):
    con = duckdb.connect()
    _asof_world(con, seed=len(join) * 7 + len(cond))
    sql = (f"SELECT e.id, f.ts AS fts, f.v FROM e {join} f ON e.k = f.k AND {cond} "
           "ORDER BY e.id")
    interval = dialects.asof_as_interval_join(sqlglot.parse_one(sql, read="duckdb"))
    assert not [j for j in interval.find_all(sqlglot.exp.Join) if j.args.get("method")]
    want = con.sql(sql).fetchall()
    assert want and any(r[1] is None for r in want) == (join == "ASOF LEFT JOIN")
    assert con.sql(interval.sql("duckdb")).fetchall() == want


@pytest.mark.parametrize("sql, construct, line, words", [
    ("SELECT k,\n list_aggregate(xs, 'sum') FROM t", "list_aggregate", 2, "list_aggregate"),
    ("SELECT strftime(ts, '%Y-%j') FROM t", "strftime", 1, "%j print differently"),
    ("SELECT k FROM t\nWHERE regexp_full_match(s, 'a+')", "regexp_full_match", 2, "anchor"),
    ("SELECT a // b FROM t", "a // b", 1, "not among the constructs"),
    ("SELECT extract(dow FROM ts) FROM t", "extract", 1, "counts differently"),
    ("SELECT date_diff('month', a, b) FROM t", "date_diff", 1, "only 'day' translates"),
    ("SELECT * FROM e ASOF JOIN f ON e.k = f.k AND e.ts >= f.ts", "ASOF JOIN", 1,
     "name the selected columns"),
    ("SELECT e.k FROM e ASOF JOIN f ON e.ts >= f.ts AND e.ts <= f.ts2", "ASOF JOIN", 1,
     "exactly one >="),
    ("SELECT * FROM read_csv('x.csv')", "read_csv", 1, "a table function"),
    ("SELECT hash(k) FROM t", "hash", 1, "differs between engines"),
    ("SELECT DISTINCT ON (k) k, v FROM t", "DISTINCT ON (k)", 1, "row_number()"),
    ("SELECT k,\n CAST(n AS HUGEINT) FROM t", "INT128", 2, "Spark has no INT128 type"),
    ("SELECT regexp_replace(p, 'a', 'b') FROM t", "regexp_replace", 1, "the 'g' flag"),
    ("SELECT split_part(c, '_', -1) FROM t", "split_part", 1, "positive number"),
    ("SELECT k FROM t WHERE 'a' = unnest(xs)", "unnest", 1, "an item of a SELECT list"),
])
def test_a_construct_without_spark_equivalent_is_named_with_its_line(sql, construct, line,
                                                                     words):
    with pytest.raises(dialects.Untranslatable) as err:
        dialects.to_spark(sql)
    (problem,) = err.value.problems
    assert (problem.construct, problem.line) == (construct, line)
    assert str(problem).startswith(f"`{construct}` has no Spark SQL equivalent: ")
    assert words in str(problem)


def test_a_view_that_does_not_translate_names_its_file_and_line(tmp_path):
    view = tmp_path / "customer_odd.py"
    sql = "\n    SELECT customer_id,\n           list_aggregate(xs, 'max') AS top\n    FROM c\n    "
    view.write_text(f'from x import y\n\ntransformation = T(\n    sql="""{sql}""",\n)\n')
    with pytest.raises(ConfigError) as err:
        dialects.view_to_spark(view, sql)
    assert str(err.value).startswith(f"{view}:6: Spark SQL: `list_aggregate` has no Spark SQL")


DUCKDB_ONLY = """\
name: weekday_buyers
title: Weekday buyers
description: Signed up on a weekday.
owner: priya.nair
kind: cohort
entity: customer
params:
  min_orders: {type: int, default: 2, min: 1, description: Orders in 365 days}
where: |
  frequency_365d >= $min_orders
  AND strftime(signup_ts, '%u') NOT IN ('6', '7')
  AND regexp_full_match(country, '[A-Z]{2}')
"""


def test_templates_check_reports_each_duckdb_only_clause_for_spark(tmp_path, capsys):
    """DuckDB takes the template; `--dialect spark`, or a project on engine: spark, names
    each clause Spark cannot run, at its file and line, and exits 1."""
    project = init_project(tmp_path / "shop", "holi").root
    bad = project / "segment_templates" / "weekday_buyers.yaml"
    bad.write_text(DUCKDB_ONLY)
    home = ["--home", str(tmp_path / "ws"), "--project", str(project)]
    assert run([*home, "templates", "check", str(bad)]) == 0
    assert capsys.readouterr().out.strip() == "ok: 30 templates, 0 campaigns"
    assert run([*home, "templates", "check", "--dialect", "spark", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{bad}:11: where (Spark): `strftime` has no Spark SQL equivalent: strftime "
        "directive(s) %u print differently in Spark's date_format; use %-d %-m %A %B %H %I %M "
        "%S %Y %a %b %d %m %p %y",
        f"{bad}:12: where (Spark): `regexp_full_match` has no Spark SQL equivalent: anchor the "
        "pattern and use regexp_matches(x, '^...$')",
        "2 problem(s)"]
    bad.unlink()
    with (project / "segflow.yaml").open("a") as fh:
        fh.write("engine: spark\nspark:\n  master: local[2]\n")
    assert run([*home, "templates", "check"]) == 0
    assert capsys.readouterr().out.strip().endswith(
        "ok: 29 templates, 2 campaigns (where clauses checked for DuckDB and Spark SQL)")
