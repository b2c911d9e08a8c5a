"""Score-driven decisions are explained end to end with real champions: movers whose move
involved a score carry the model's top contributions, and `segflow explain` prints them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.integration

WEEK_BEFORE, AS_OF = datetime(2027, 2, 22, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    import pyarrow.parquet as pq

    from segflow.featurestore.build import build_features
    from segflow.governance.gate import verdict
    from segflow.governance.pipeline import govern_run
    from segflow.governance.publish import approve, publish_run
    from segflow.governance.refresh import refresh_with_overrides
    from segflow.ingest.synthetic.holi import TABLES, generate_holi
    from segflow.monitoring.gate import check
    from segflow.settings import Settings, get_settings, set_home
    from segflow.training.train import train_models

    set_home(tmp_path_factory.mktemp("explained") / "ws")
    settings = get_settings().ensure()
    # segflow.yaml's explain: {store_contributions: true}, as a project that wants explain
    # without loading models sets it (off in the Holi project: it costs every refresh)
    stored = pytest.MonkeyPatch()
    stored.setattr(Settings, "store_contributions", property(lambda self: True))
    world = generate_holi(1500, seed=5)
    for name in TABLES:
        pq.write_table(world[name], settings.canonical_dir / f"{name}.parquet")
    build_features(settings, [datetime(2026, 2, 18, tzinfo=UTC), WEEK_BEFORE, AS_OF])
    train_models(settings, "holi_2027", models=["holi_propensity", "flash_sale_uplift"])
    first = refresh_with_overrides(settings, "holi_2027", WEEK_BEFORE)
    govern_run(settings, first.run_id)
    check(settings, "holi_2027", first.run_id)  # the first run: nothing to compare with
    approve(settings, first.run_id, "priya.nair", "baseline for the explanation test")
    publish_run(settings, first.run_id, by="priya.nair",
                accept_open=verdict(settings, first.run_id).open_exceptions,
                reason="baseline items go out as proposed in this test")
    second = refresh_with_overrides(settings, "holi_2027", AS_OF)
    govern_run(settings, second.run_id)
    yield settings, second.run_id
    stored.undo()
    set_home(None)


def test_a_rerun_scores_with_the_run_s_own_model_versions(two_runs):
    """Re-running the second run from its features re-scores them with the model versions
    recorded in the run, and the memberships come out identical."""
    from segflow.governance.audit import read
    from segflow.governance.status import rerun
    from segflow.runstore import load_run

    settings, run_id = two_runs
    versions = load_run(settings, run_id).inputs["model_versions"]
    assert versions
    same, new_run, detail = rerun(settings, run_id, reuse_features=True)
    assert same, detail
    assert load_run(settings, new_run).inputs["model_versions"] == versions
    assert read(settings, run_id)[-1]["payload"]["model_versions"] == versions


def test_score_movers_carry_model_contributions(two_runs):
    import duckdb

    settings, run_id = two_runs
    movement = settings.runs_dir / run_id / "movement.parquet"
    rows = duckdb.sql(f"""SELECT reasons, model_reasons FROM read_parquet('{movement}')
        WHERE regexp_matches(reasons, '\\b(holi_propensity|flash_sale_uplift)\\b')""").fetchall()
    assert rows, "the week's movement should include score-driven moves"
    pattern = re.compile(r"^(holi_propensity|flash_sale_uplift): \w+=[^ ]+ \([+-]\d")
    assert all(m is not None and pattern.match(m) for _, m in rows)


def test_explain_prints_top_contributions(two_runs):
    from segflow.cli import app
    from segflow.runstore import load_run

    settings, run_id = two_runs
    customer = "C00000001"
    result = CliRunner().invoke(app, ["--home", str(settings.home), "explain", "--campaign",
                                      "holi_2027", "--customer", customer, "--run", run_id])
    assert result.exit_code == 0, result.output
    version = load_run(settings, run_id).inputs["model_versions"]["holi_propensity"]
    head, _, rest = result.output.partition("top contributions to holi_propensity = ")
    assert rest.splitlines()[0].endswith(f"(model holi_propensity v{version}):"), rest
    block = rest.splitlines()[1:4]
    assert all(re.match(r"^  \w+ = .+: [+-]\d+\.\d{4}$", line) for line in block), block


def test_stored_contributions_are_the_models_own(two_runs):
    """The run stores each customer's top contributions when it scores; explain reads them
    (no model loaded) and they are what the run's models say when loaded."""
    import pyarrow.parquet as pq

    from segflow.runstore import load_run
    from segflow.scoring.explain import explain_entity, membership_rows, run_files
    from segflow.scoring.resolve import resolve_campaign

    settings, run_id = two_runs
    record = load_run(settings, run_id)
    files = run_files(settings, record)
    assert pq.read_metadata(files["contributions"]).num_rows == pq.read_metadata(
        files["features"]).num_rows
    resolved = resolve_campaign(settings, "holi_2027")
    for customer in ("C00000001",):  # loading the models costs seconds a customer
        rows = membership_rows(files["memberships"], customer)
        args = (settings, resolved, customer, files["features"], rows, 3,
                record.inputs["model_versions"])
        stored = explain_entity(*args, stored=files["contributions"])
        loaded = explain_entity(*args, stored=None)
        assert stored["contributions_from"] == "run" and loaded["contributions_from"] == "models"
        assert set(stored["contributions"]) == {"flash_sale_uplift", "holi_propensity"}
        for col, reasons in loaded["contributions"].items():
            assert [r["feature"] for r in stored["contributions"][col]] == [
                r["feature"] for r in reasons]
            assert [r["contribution"] for r in stored["contributions"][col]] == pytest.approx(
                [r["contribution"] for r in reasons], rel=1e-5, abs=1e-6)


def test_explain_imports_no_feast_mlflow_or_lightgbm(two_runs):
    """explain reads the run's files (features, memberships, stored contributions) in a
    cold process as a user runs it: Feast, MLflow and LightGBM stay unimported."""
    import json
    import subprocess
    import sys

    settings, run_id = two_runs
    heavy = ("feast", "mlflow", "lightgbm", "sklearn", "pandas")
    code = ("import json, sys; from segflow.cli import run; "
            f"code = run(['--home', {str(settings.home)!r}, 'explain', '--campaign', "
            f"'holi_2027', '--customer', 'C00000001', '--run', {run_id!r}]); "
            f"print(json.dumps([code, [m for m in {heavy!r} if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "top contributions to holi_propensity" in out
    assert json.loads(out.strip().splitlines()[-1]) == [0, []]


def test_model_reasons_stop_at_the_limit_and_point_to_explain(two_runs):
    """Runs last: it governs the run again with a limit of 5, rewriting movement files."""
    from segflow.db import connect
    from segflow.governance.context import RunContext
    from segflow.governance.movement import compute_movement, register_views
    from segflow.governance.publications import last_published_run

    settings, run_id = two_runs
    ctx = RunContext.of(settings, run_id)
    previous = last_published_run(settings, "holi_2027", before=run_id)
    with connect(settings) as con:
        register_views(settings, con, run_id, previous)
        result = compute_movement(settings, con, ctx.rules, run_id, previous, {},
                                  reasons_limit=5)
        texts = [part for (r,) in con.execute("SELECT model_reasons FROM movement WHERE "
                                              "model_reasons IS NOT NULL").fetchall()
                 for part in r.split("; ") if part.startswith("holi_propensity: ")]
    counts = result.model_reasons["holi_propensity"]
    assert counts["explained"] == 5 < counts["score_movers"]
    computed = [t for t in texts if re.match(r"^holi_propensity: \w+=", t)]
    pointed = [t for t in texts if "(beyond the 5 largest score changes), see segflow explain"
               in t]
    assert len(computed) == 5 and len(pointed) == counts["score_movers"] - 5


def test_movers_who_left_the_population_have_no_model_reasons(two_runs):
    """A score mover with no current row (left the population) has no score to explain: it
    is neither explained nor counted, and does not use up the limit (at 10M such movers
    filled the whole limit and TreeSHAP was asked about no rows)."""
    import duckdb

    from segflow.governance.model_reasons import add_model_reasons
    from segflow.runstore import load_run

    settings, run_id = two_runs
    features = settings.runs_dir / run_id / "features.parquet"
    con = duckdb.connect()
    con.execute(f"CREATE VIEW f_cur AS SELECT customer_id AS entity_id, * EXCLUDE (customer_id) "
                f"FROM read_parquet('{features}')")
    con.execute("CREATE VIEW f_prev AS SELECT * FROM f_cur")
    kept = con.execute("SELECT entity_id FROM f_cur ORDER BY entity_id LIMIT 1").fetchone()[0]
    con.execute("CREATE TABLE clause_changes AS SELECT * FROM (VALUES ('GONE'), (?)) "
                "t(entity_id), (SELECT 'holi_propensity >= 0.5' AS clause_text)", [kept])
    con.execute("CREATE TABLE movement AS SELECT entity_id, CAST(NULL AS VARCHAR) AS "
                "model_reasons FROM clause_changes")
    versions = load_run(settings, run_id).inputs["model_versions"]

    counts = add_model_reasons(settings, con, "customer", versions, limit=1)

    assert counts["holi_propensity"] == {"score_movers": 1, "explained": 1}
    reasons = dict(con.execute("SELECT entity_id, model_reasons FROM movement").fetchall())
    assert reasons["GONE"] is None
    assert reasons[kept].startswith("holi_propensity: ")
