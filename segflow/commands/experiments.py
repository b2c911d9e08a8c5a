"""``segflow experiments plan | arms | allocate``: size an offer test before launch, check a
run's offer arms, and let the bandit re-weight the offers between refreshes."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Offers tested against each other and the holdout.",
                        no_args_is_help=True)
    group.command("plan")(plan)
    group.command("arms")(arms)
    group.command("allocate")(allocate)
    app.add_typer(group, name="experiments")


def _campaign(settings, name: str):
    """The campaign file as written (strict parse; every problem listed on failure)."""
    from segflow.scoring.campaigns import campaign_path, load_campaign
    from segflow.scoring.schema import Problems
    from segflow.scoring.validate import TemplateErrors

    problems = Problems()
    campaign = load_campaign(campaign_path(settings, name), problems)
    if problems or campaign is None:
        raise TemplateErrors(problems)
    return campaign


def _sizes(settings, campaign: str, run: str | None) -> tuple[str, list[tuple]]:
    """(run id, [(cohort, offer or 'holdout', customers)]) of a run's experiment cohorts."""
    import duckdb

    from segflow.errors import SegflowError
    from segflow.runstore import run_dir
    from segflow.scoring.explain import pick_run

    record = pick_run(settings, campaign, run)
    offers = (record.inputs.get("experiment") or {}).get("offers") or {}
    if not offers:
        raise SegflowError(f"run {record.run_id} of '{campaign}' tested no offers (its "
                           "campaign file has no experiment: section)")
    from segflow.scoring.runfiles import parquet_sql

    path = run_dir(settings, record.run_id) / "memberships.parquet"
    with duckdb.connect() as con:
        rows = con.execute(f"""SELECT cohort, arm, count(*) FROM {parquet_sql(path)}
            WHERE status IN ('assigned', 'holdout') AND split_part(cohort, '__', 1)
                  IN (SELECT unnest($c)) GROUP BY ALL ORDER BY 1, 2""",
                           {"c": list(offers)}).fetchall()
    return record.run_id, rows


def plan(
    baseline_rate: float = typer.Option(
        ..., "--baseline-rate", help="Conversion without the campaign (e.g. 0.04 = 4%)."),
    size: Optional[int] = typer.Option(  # noqa: UP045
        None, "--size", help="Customers per offer: prints the smallest lift it detects."),
    lift: Optional[float] = typer.Option(  # noqa: UP045
        None, "--lift", help="Lift to detect (0.005 = half a point): prints the size needed."),
    campaign: Optional[str] = typer.Option(  # noqa: UP045
        None, "--campaign", help="Read each offer's and the holdout's size from a run."),
    run: Optional[str] = typer.Option(None, "--run", help="Run (default: latest)."),  # noqa: UP045
    comparisons: int = typer.Option(
        0, "--comparisons", help="Comparisons to correct for (default: offers vs holdout "
        "plus offer pairs; 1 without --campaign)."),
    power: float = typer.Option(0.8, "--power", help="Chance to detect a true lift."),
    alpha: float = typer.Option(0.05, "--alpha", help="False-positive rate, all comparisons."),
) -> None:
    """Minimum detectable lift for the cohort sizes, or the size for a lift, before launch."""
    from segflow.errors import SegflowError
    from segflow.monitoring.experiments import plan as solve
    from segflow.settings import get_settings

    if not 0 < power < 1 or not 0 < alpha < 1:
        raise SegflowError("--power and --alpha are shares between 0 and 1")
    try:
        if campaign is None:
            if (size is None) == (lift is None):
                raise SegflowError("give --size (customers per offer) or --lift (to detect), "
                                   "or --campaign to read the sizes from a run")
            if size is not None and size < 2:
                raise SegflowError(f"--size must be at least 2, got {size}")
            r = solve(baseline_rate, n_per_arm=size, lift=lift, comparisons=comparisons or 1,
                      alpha=alpha, power=power)
            typer.echo(_plan_line(r))
            return
        run_id, rows = _sizes(get_settings(), campaign, run)
        by_cohort: dict[str, dict[str, int]] = {}
        for cohort, arm, n in rows:
            by_cohort.setdefault(cohort, {})[arm] = n
        typer.echo(f"{campaign}, run {run_id}: baseline conversion {baseline_rate:.2%}, "
                   f"power {power:.0%}, alpha {alpha:g} over all comparisons of a cohort")
        for cohort, arms in by_cohort.items():
            offers = [a for a in arms if a != "holdout"]
            k = comparisons or len(offers) + len(offers) * (len(offers) - 1) // 2
            held = arms.get("holdout", 0)
            typer.echo(f"  {cohort}: holdout {held:,}")
            for offer in offers:
                n = arms[offer]
                if n < 2 or held < 2:
                    typer.echo(f"    {offer} {n:,}: too few customers to measure")
                    continue
                r = solve(baseline_rate, n_per_arm=n, comparisons=k, alpha=alpha,
                          power=power, ratio=held / n)
                typer.echo(f"    {offer} {n:,}: detects a lift of "
                           f"{r['minimum_detectable_lift'] * 100:.2f} points or more")
    except ValueError as err:
        raise SegflowError(str(err)) from None


def _plan_line(r: dict) -> str:
    head = (f"baseline {r['baseline_rate']:.2%}, power {r['power']:.0%}, alpha "
            f"{r['alpha']:g} over {r['comparisons']} comparison(s): ")
    if "lift" in r:
        return head + (f"{r['n_per_arm']:,} customers per offer and {r['n_baseline']:,} in "
                       f"the holdout detect a lift of {r['lift'] * 100:.2f} points")
    return head + (f"{r['n_per_arm']:,} customers per offer detect a lift of "
                   f"{r['minimum_detectable_lift'] * 100:.2f} points or more")


def arms(
    campaign: str = typer.Option(..., "--campaign", help="Campaign name."),
    run: Optional[str] = typer.Option(None, "--run", help="Run (default: latest)."),  # noqa: UP045
) -> None:
    """Offer sizes of a run's experiment cohorts against their shares, and the offer mix
    per stratum; exits 1 when an arm is off its share or the mix differs by stratum."""
    import duckdb

    from segflow.errors import CheckFailed
    from segflow.runstore import run_dir
    from segflow.scoring.arms import balance, run_offers
    from segflow.scoring.explain import pick_run
    from segflow.scoring.render import offers_lines
    from segflow.scoring.sqlparts import split_sql
    from segflow.settings import get_settings

    settings = get_settings()
    from segflow.scoring.runfiles import parquet_sql, read_arrow

    record = pick_run(settings, campaign, run)
    folder = run_dir(settings, record.run_id)
    spec = _campaign(settings, campaign).experiment
    with duckdb.connect() as con:
        members = read_arrow(folder / "memberships.parquet")
        strata = None
        if spec is not None and spec.stratify_by:
            key = f'"{record.inputs.get("entity", "customer")}_id"'
            strata = con.sql(f"SELECT CAST({key} AS VARCHAR) AS entity_id, "
                             f"{split_sql(spec.stratify_by)} AS stratum FROM "
                             f"{parquet_sql(folder / 'features.parquet')}").to_arrow_table()
    rows = balance(members, run_offers(record.inputs), strata,
                   min_per_offer=spec.min_per_offer if spec else 0)
    if not rows:
        typer.echo(f"run {record.run_id}: no offers tested")
        return
    typer.echo(f"run {record.run_id}: treated customers per offer (share against the plan)")
    for line in offers_lines(rows):
        typer.echo(line)
    flagged = [r["cohort"] for r in rows if r["flags"]]
    if flagged:
        raise CheckFailed(f"{len(flagged)} cohort(s) with unbalanced offers: "
                          f"{', '.join(flagged)}")
    typer.echo("offers balanced in every cohort")


def allocate(
    campaign: str = typer.Option(..., "--campaign", help="Campaign with an experiment bandit."),
    by: str = typer.Option("segflow", "--by", help="Who asks (recorded in the audit log)."),
) -> None:
    """Thompson sampling over the offers' outcomes so far: the next refresh draws new
    customers' offers at the printed shares (the holdout stays as the campaign file says)."""
    from segflow.monitoring.bandit import allocate as run_allocate
    from segflow.monitoring.bandit import explain_allocation
    from segflow.monitoring.config import load_monitoring_config
    from segflow.scoring.arms import allocation_path
    from segflow.settings import get_settings

    settings = get_settings()
    spec = _campaign(settings, campaign)
    campaign_id = load_monitoring_config(settings, campaign).feedback.campaign_id or campaign
    result = run_allocate(settings, spec, campaign_id, by)
    typer.echo(f"{campaign}: next refresh's new assignments, by {result['metric']} "
               f"(floor {result['floor']:.0%} per offer):")
    for line in explain_allocation(result):
        typer.echo(f"  {line}")
    typer.echo(f"allocation: {allocation_path(settings, campaign)} (audit: "
               "offer_allocation_changed)")
