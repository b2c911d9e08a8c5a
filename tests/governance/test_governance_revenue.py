"""The revenue control fits the business: it reconciles against the finance table the
campaign names (any table of the project, amounts in its base currency), or it is switched
off with a reason that every report and audit entry shows; a table the project does not have
is a configuration error when the file is checked, not a crash in a refresh."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from govworld import (
    AS_OF_1,
    approve_and_publish,
    base_features,
    drift_passed,
    governed,
    make_world,
    write_canonical,
)
from holi_project import ROOT

from segflow.errors import ConfigError

OFF = "no billing system: orders are the only record of revenue"
LEDGER_CONTRACT = """\
table: ledger
description: General-ledger revenue postings, in USD.
key: [entry_id]
columns:
  entry_id: {type: string, nullable: false, description: Posting id.}
  customer: {type: string, nullable: false, description: Customer the revenue is booked to.}
  booked_at: {type: timestamp, nullable: false, description: Posting time.}
  amount_usd: {type: float, nullable: false, description: Revenue in USD.}
  kind: {type: string, nullable: false, description: revenue or tax.}
"""
LEDGER = """  revenue:
    finance: {table: ledger, id: customer, amount: amount_usd, date: booked_at,
              where: "kind = 'revenue'"}
    tolerance: 0.0
    period_days: 365
"""


def _campaign(settings, controls: str) -> None:
    """Replace the world campaign's controls section."""
    path = settings.campaigns_dir / "holi_test.yaml"
    text = path.read_text()
    start = text.index("controls:\n")
    end = text.index("exports:")
    path.write_text(text[:start] + "controls:\n" + controls + text[end:])


def _usd_project(root):
    """A project (USD) whose contracts are the Holi ones plus a general ledger."""
    from segflow.project import load_project

    root.mkdir()
    shutil.copytree(ROOT / "ingest" / "contracts", root / "contracts")
    (root / "contracts" / "ledger.yaml").write_text(LEDGER_CONTRACT)
    (root / "segflow.yaml").write_text("name: usd_shop\nbase_currency: USD\n")
    return load_project(root)


def _refresh_and_govern(settings):
    from segflow.governance.pipeline import govern_run
    from segflow.governance.refresh import refresh_with_overrides

    table = pa.Table.from_pandas(base_features(), preserve_index=False)
    run = refresh_with_overrides(settings, "holi_test", AS_OF_1, features=table).run_id
    return run, govern_run(settings, run)


def test_a_project_without_billing_switches_the_control_off_and_every_record_says_why(
        tmp_path):
    from segflow.governance import audit
    from segflow.governance.gate import verdict

    settings = make_world(tmp_path)
    write_canonical(settings, list(base_features().customer_id))
    (settings.canonical_dir / "billing.parquet").unlink()  # this business has no billing
    _campaign(settings, f"  revenue: {{switched_off: '{OFF}'}}\n")

    run, result = _refresh_and_govern(settings)
    control = next(c for c in result.controls if c.name == "revenue_reconciles")
    assert (control.passed, control.severity) == (True, "off")
    assert OFF in control.message and not result.blocked
    assert OFF in (settings.runs_dir / run / "report.html").read_text()
    entry = next(e for e in audit.read(settings, run) if e["action"] == "govern")
    assert OFF in entry["payload"]["controls"]["revenue_reconciles"]["message"]
    assert OFF in verdict(settings, run).headline()
    drift_passed(settings, run)
    approve_and_publish(settings, run)
    published = next(e for e in audit.read(settings, run) if e["action"] == "publish")
    assert any(OFF in line for line in published["payload"]["controls_off"])


def test_a_named_ledger_table_reconciles_in_the_project_currency(tmp_path):
    from segflow.governance.gate import verdict
    from segflow.governance.pipeline import govern_run

    settings = dataclasses.replace(make_world(tmp_path / "world"),
                                   project=_usd_project(tmp_path / "project"))
    f = base_features()
    write_canonical(settings, list(f.customer_id))
    (settings.canonical_dir / "billing.parquet").unlink()
    ids = list(f.customer_id)
    posted = pd.Timestamp("2026-09-01", tz="UTC")
    ledger = pd.DataFrame({
        "entry_id": [f"L{i}" for i in range(2 * len(ids))],
        "customer": ids + ids, "booked_at": posted,
        "amount_usd": [100.0] * len(ids) + [7.5] * len(ids),
        "kind": ["revenue"] * len(ids) + ["tax"] * len(ids)})  # tax is filtered out
    pq.write_table(pa.Table.from_pandas(ledger, preserve_index=False),
                   settings.canonical_dir / "ledger.parquet")
    _campaign(settings, LEDGER)

    run = governed(settings, f, AS_OF_1)
    result = govern_run(settings, run)
    control = next(c for c in result.controls if c.name == "revenue_reconciles")
    assert control.passed, control.message
    assert control.figures["finance_table"] == "ledger"
    assert control.figures["finance_total"] == 100.0 * len(ids)
    assert "USD" in control.message and "INR" not in control.message

    # a posting to someone outside the campaign's population does not reconcile: named
    extra = pd.concat([ledger, pd.DataFrame({"entry_id": ["L-X"], "customer": ["STRANGER"],
                                             "booked_at": posted, "amount_usd": [42.0],
                                             "kind": ["revenue"]})], ignore_index=True)
    pq.write_table(pa.Table.from_pandas(extra, preserve_index=False),
                   settings.canonical_dir / "ledger.parquet")
    result = govern_run(settings, run)
    control = next(c for c in result.controls if c.name == "revenue_reconciles")
    assert not control.passed and "STRANGER" in control.message
    assert verdict(settings, run).state == "blocked"


def test_a_table_the_project_does_not_have_is_one_line_at_check_and_at_refresh(
        world, cli):
    _campaign(world, LEDGER)  # the Holi project has no ledger contract
    check = cli(world.home, "templates", "check")
    assert check.code == 1
    assert "controls.revenue.finance.table 'ledger' is not a table of this project" in \
        check.err and "holi_test.yaml:" in check.err and "Traceback" not in check.err

    refresh = cli(world.home, "refresh", "--campaign", "holi_test", "--as-of", "2027-02-01")
    assert refresh.code == 2, refresh.err
    assert "'ledger' is not a table of this project" in refresh.line
    assert "Traceback" not in refresh.err and len(refresh.err.strip().splitlines()) == 1


@pytest.mark.parametrize(("controls", "says"), [
    ("  revenue_tolerance: 0.001\n", "controls.revenue_tolerance was removed"),
    ("  max_growth: 2.0\n", "controls.revenue is missing"),
    ("  revenue: {switched_off: nope}\n", "needs the reason"),
    ("  revenue: {switched_off: 'a good long reason', tolerance: 0.1}\n", "would be ignored"),
    ("  revenue: {finance: {table: billing, id: account_id, amount: product_line, "
     "date: invoice_date}}\n", "amount 'product_line' is string"),
    ("  revenue: {finance: {table: billing, id: account_id, amount: revenue, "
     "date: invoice_date, where: \"stauts = 'x'\"}}\n", "where does not run on billing"),
    ("  revenue: {finance: {table: billing, id: account_id, amount: revenue}}\n",
     "lacks date"),
])
def test_revenue_configuration_errors_name_the_file_and_line(world, controls, says):
    from segflow.governance.config import load_config

    _campaign(world, controls)
    with pytest.raises(ConfigError, match=says) as err:
        load_config(world, "holi_test")
    assert err.value.line is not None and err.value.path.endswith("holi_test.yaml")


def test_the_shipped_campaigns_name_their_finance_tables(home):
    from segflow.governance.config import load_config

    tiers, holi = load_config(home, "account_tiers"), load_config(home, "holi_2027")
    assert tiers.revenue.tables == ("billing",) and tiers.revenue.segments is None
    assert holi.revenue.tables == ("billing", "orders")
    assert json.dumps(dataclasses.asdict(holi.revenue))  # plain data, printable
