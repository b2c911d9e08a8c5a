"""The worlds of the Spark equality tests at the issue's scale: a 20,000-customer Holi world
and the B2B accounts world, each made once on DuckDB as `segflow demo` makes it (synthetic
sources, ingest, features, champions trained), its first run refreshed, governed, approved
and published on DuckDB as the baseline, then copied: the second run (a week later for
Holi, a quarter for the accounts) is refreshed, governed, approved, published and exported
on each engine, on Spark from features the executors built.

Each phase is timed (wall seconds, CPU seconds of this process and every process under it:
the JVM and its Python workers; the load average) and logged on ``segflow.tests``: the
module must stay within the suite's budget, and on a shared machine the CPU seconds say
what the wall seconds cannot.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from govworld import ACCEPTANCE, APPROVAL, drift_passed

from segflow.settings import Settings

log = logging.getLogger("segflow.tests")


@dataclass
class Plan:
    """One world: its campaign, its times, the models its campaign scores with."""

    name: str
    campaign: str
    write: Callable[[Settings], object]
    train_as_of: list[datetime]
    first: datetime
    second: datetime
    models: list[str]
    key: str                      # the campaign entity's key
    outputs: list[str]            # score columns the champions add


def _holi(customers: int) -> Callable[[Settings], object]:
    def write(settings: Settings):
        from segflow.ingest.synthetic.writer import write_holi_sources

        return write_holi_sources(settings.sources_dir, settings.truth_dir, customers, 7)
    return write


def _accounts(accounts: int) -> Callable[[Settings], object]:
    def write(settings: Settings):
        from segflow.ingest.synthetic.accounts import write_accounts_world

        return write_accounts_world(settings.sources_dir, accounts, 7,
                                    truth_dir=settings.truth_dir)
    return write


def holi_plan(customers: int) -> Plan:
    """The Holi demo's times (flows/demo.py): trained on last year's campaign, refreshed a
    week before the as-of time and at it."""
    return Plan("holi", "holi_2027", _holi(customers), [datetime(2026, 2, 18, tzinfo=UTC)],
                datetime(2027, 2, 22, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC),
                ["holi_propensity", "flash_sale_uplift"], "customer_id",
                ["holi_propensity", "flash_sale_uplift"])


def accounts_plan(accounts: int) -> Plan:
    """The accounts demo's quarters. Its notes model is left out: Spark refuses a model
    that reads account notes (not joined on Spark yet, docs/scale-out.md)."""
    return Plan("accounts", "account_tiers", _accounts(accounts), [],
                datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC),
                ["account_anomaly"], "account_id", ["account_anomaly_score"])


# --- timing ----------------------------------------------------------------------------
def _tree_cpu() -> float:
    """CPU seconds of this process and every live process under it (the JVM, its Python
    workers), with what each has reaped of its own children."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = sum(int(x) for x in fields[11:15]) / tick
    mine, total = os.getpid(), 0.0
    for pid, seconds in cpu.items():
        p = pid
        while p and p != mine:
            p = parent.get(p, 0)
        if p == mine:
            total += seconds
    return total


@dataclass
class Phases:
    """(name, wall s, CPU s, load average at the end) of each phase, in order."""

    world: str
    rows: list[tuple[str, float, float, float]] = field(default_factory=list)

    @contextmanager
    def __call__(self, name: str):
        wall, cpu = time.perf_counter(), _tree_cpu()
        yield
        row = (name, time.perf_counter() - wall, _tree_cpu() - cpu, os.getloadavg()[0])
        self.rows.append(row)
        log.warning("spark worlds: %s %s: %.1f s wall, %.1f s CPU, load %.1f",
                    self.world, *row)


# --- the world ---------------------------------------------------------------------------
@dataclass
class Engines:
    """The same world on both engines after the second run."""

    plan: Plan
    duck: Settings
    spark: Settings
    first: str                    # the baseline, made and published on DuckDB
    second: str                   # the second run's id on DuckDB
    spark_second: str             # and on Spark
    governed: dict = field(default_factory=dict)   # engine -> GovernanceResult
    features: dict = field(default_factory=dict)   # the Spark build's report, per view
    phases: Phases | None = None


def _publish(settings: Settings, campaign: str, run_id: str) -> dict:
    """Approved by the campaign's first owner, open review items accepted by count."""
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve, publish_run
    from segflow.scoring.resolve import resolve_campaign

    owner = resolve_campaign(settings, campaign, None).campaign.owners[0]
    drift_passed(settings, run_id)  # the drift gate is compared by the Spark scoring tests
    approve(settings, run_id, owner, APPROVAL)
    open_items = verdict(settings, run_id).open_exceptions
    return publish_run(settings, run_id, by=owner, accept_open=open_items or None,
                       reason=ACCEPTANCE if open_items else None)


def _second(settings: Settings, plan: Plan, phase: Phases, engine: str):
    """The second run as `segflow refresh` runs it (refresh with overrides, then govern:
    the sequence's own steps), approved, published and exported."""
    from segflow.flows.sequence import govern_step, refresh_step
    from segflow.governance.pipeline import export_for

    with phase(f"{engine}: refresh"):
        run_id = refresh_step(settings, plan.campaign, plan.second)["run_id"]
    with phase(f"{engine}: govern"):
        governed = govern_step(settings, run_id)
    with phase(f"{engine}: approve, publish"):
        _publish(settings, plan.campaign, run_id)
    with phase(f"{engine}: export"):
        export_for(settings, run_id)
    return run_id, governed


def build(plan: Plan, root: Path, spark_project) -> Engines:
    """The world made once on DuckDB, its second run on each engine (see the module)."""
    from segflow.featurestore.build import build_features
    from segflow.flows.sequence import refresh_sequence
    from segflow.ingest.pipeline import run_ingest
    from segflow.training.train import train_models

    phase = Phases(plan.name)
    base = Settings(home=root / "base").ensure()
    with phase("world"):
        plan.write(base)
    with phase("ingest"):
        run_ingest(base)
    with phase("features"):
        build_features(base, [*plan.train_as_of, plan.first, plan.second])
    with phase("train"):
        train_models(base, plan.campaign, models=plan.models)
    with phase("first run (DuckDB)"):
        first = refresh_sequence(base, plan.campaign, plan.first, drift=False).run_id
        _publish(base, plan.campaign, first)
    shutil.copytree(base.home, root / "duck")
    shutil.copytree(base.home, root / "spark")
    duck = Settings(home=root / "duck")
    spark = dataclasses.replace(Settings(home=root / "spark"), project=spark_project)
    world = Engines(plan, duck, spark, first, "", "", phases=phase)
    on_duck = _second(duck, plan, phase, "DuckDB")
    with phase("Spark: features"):
        world.features = build_features(spark, [plan.second])
    on_spark = _second(spark, plan, phase, "Spark")
    world.second, world.spark_second = on_duck[0], on_spark[0]
    world.governed = {"duckdb": on_duck[1], "spark": on_spark[1]}
    return world
