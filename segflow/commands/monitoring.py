"""``segflow drift`` (report + gate, and ``drift ack``), ``segflow trends`` and
``segflow feedback``: the monitoring stage's commands."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Drift report and publication gate of a campaign run.",
                        invoke_without_command=True)
    group.callback()(drift)
    group.command("ack")(ack)
    app.add_typer(group, name="drift")
    app.command("trends")(trends)
    app.command("feedback")(feedback)


def drift(
    ctx: typer.Context,
    campaign: Optional[str] = typer.Option(  # noqa: UP045 (typer needs Optional)
        None, "--campaign", help="Campaign name (segment_templates/campaigns/<name>.yaml)."),
    run: Optional[str] = typer.Option(  # noqa: UP045
        None, "--run", help="Run id to check (default: the campaign's latest run)."),
    reference: Optional[str] = typer.Option(  # noqa: UP045
        None, "--reference",
        help="last_published | previous | training | a run id (default: campaign's drift:)."),
) -> None:
    """Compare a run with its reference (features, scores, cohort composition, bias), write
    runs/<id>/drift/, and print the summary and the gate's verdict (exit 1 when blocked)."""
    if ctx.invoked_subcommand is not None:
        return
    if not campaign:
        raise typer.BadParameter("--campaign is required", param_hint="--campaign")
    from segflow.monitoring.drift import drift_dir
    from segflow.monitoring.gate import check
    from segflow.settings import get_settings

    settings = get_settings()
    summary, gate = check(settings, campaign, run, reference)
    _print_summary(summary)
    for column, why in (summary.get("excluded_columns") or {}).items():
        typer.echo(f"  not tested: {column}: {why}")
    for cohort, why in (summary.get("empty_cohorts") or {}).items():
        typer.echo(f"  empty cohort: {cohort}: {why}")
    typer.echo(f"report: {drift_dir(settings, gate['run_id']) / 'report.html'}")
    if gate["passed"]:
        typer.secho("verdict: PASSED", fg=typer.colors.GREEN)
        return
    typer.secho("verdict: NEEDS REVIEW (publication blocked)", fg=typer.colors.RED)
    for reason in gate["reasons"]:
        typer.echo(f"  - {reason}")
    typer.echo(f"acknowledge with: segflow drift ack {gate['run_id']} --by NAME --reason TEXT")
    raise typer.Exit(1)


def _print_summary(summary: dict) -> None:
    typer.echo(f"run {summary['run_id']} against {summary['reference'] or '(nothing)'}")
    if summary.get("note"):
        typer.echo(f"  {summary['note']}")
        return
    s = summary["sample"]
    typer.echo(f"  sampled {s['current']['rows']:,} of {s['current']['of']:,} current and "
               f"{s['reference']['rows']:,} of {s['reference']['of']:,} reference rows "
               f"(seed {s['seed']})"
               + (", taken on Spark by the executors; composition and bias on it too"
                  if s.get("engine") == "spark" else ""))
    typer.echo(f"  {'feature':<28}{'type':<9}{'drifted':<9}{'statistic':>10}{'threshold':>11}")
    for row in summary["summary_table"]:
        typer.echo(f"  {row['feature']:<28}{row['type']:<9}{'yes' if row['drifted'] else 'no':<9}"
                   f"{row['statistic']:>10.4f}{row['threshold'] or 0:>11.3f}")


def ack(
    run_id: str = typer.Argument(..., help="Run whose drift breach is accepted."),
    by: str = typer.Option(..., "--by", help="An approver of the campaign in owners.yaml "
                           "(recorded in the audit log with the OS user)."),
    reason: str = typer.Option(..., "--reason", help="Why publication may go ahead."),
) -> None:
    """Acknowledge a drift breach with a reason, unblocking publication of the run."""
    from segflow.monitoring.gate import acknowledge
    from segflow.settings import get_settings

    gate = acknowledge(get_settings(), run_id, by, reason)
    typer.echo(f"acknowledged drift breach of {run_id} by {gate['acknowledged']['by']}")


def trends(
    campaign: str = typer.Option(..., "--campaign", help="Campaign name."),
) -> None:
    """Size and overlap of every cohort across the campaign's runs, as one HTML page."""
    from segflow.monitoring.trends import write_trends
    from segflow.settings import get_settings

    page, moved = write_trends(get_settings(), campaign)
    for row in moved.head(10).itertuples():
        typer.echo(f"  {row.cohort:<40} moved most in {row.run_id}: {row.change:+,.0f}")
    typer.echo(f"trends: {page}")


def feedback(
    campaign: str = typer.Option(..., "--campaign", help="Campaign (campaign_id in outcomes)."),
    run: Optional[str] = typer.Option(  # noqa: UP045
        None, "--run", help="Run whose memberships define the cohorts (default: feedback:)."),
) -> None:
    """Rates, lift with 95% CIs, revenue per customer by cohort, region and language;
    writes <home>/feedback/<campaign>/ and the labels for the next training run."""
    import dataclasses

    from segflow.monitoring.config import load_monitoring_config
    from segflow.monitoring.feedback_run import feedback_dir, run_feedback
    from segflow.pages.fmt import Formatter, currency_of
    from segflow.settings import get_settings

    settings = get_settings()
    cfg = load_monitoring_config(settings, campaign).feedback
    if run:
        cfg = dataclasses.replace(cfg, run=run)
    summary = run_feedback(settings, campaign, cfg)
    o = summary["overall"]
    typer.echo(f"{campaign}: {o['n_treatment']:,} treated, {o['n_holdout']:,} held out; "
               f"conversion {o['conversion_treatment']:.2%} vs {o['conversion_holdout']:.2%}; "
               f"lift {o['lift']:+.2%} [{o['lift_low']:+.2%}, {o['lift_high']:+.2%}]")
    typer.echo(f"arms: {', '.join(summary['arms'])}")
    for line in summary["decisions"][:12]:
        typer.echo(f"  {line}")
    fmt = Formatter(currency_of(settings))
    for row in summary["funnel"]:
        typer.echo(f"  funnel, {row['arm']}: {fmt.count(row['customers'])} customers, "
                   f"{fmt.count(row['sent'])} sent, {_pct(fmt, row['open_pct'])} opened, "
                   f"{_pct(fmt, row['click_pct'])} clicked, {_pct(fmt, row['conversion_pct'])} "
                   f"converted, {fmt.money(row['revenue'])} revenue")
    for row in summary["nps"]:
        typer.echo(f"  NPS, {row['arm']}: {row['nps']:+.0f} [{row['nps_low']:+.0f}, "
                   f"{row['nps_high']:+.0f}] from {fmt.count(row['responses'])} response(s)")
    if not summary["nps"]:
        typer.echo(f"  NPS: {summary['surveys_note'] or 'no survey response in the window'}")
    for row in summary["bau"][:5]:
        typer.echo(f"  {row['cohort']} against business as usual ({row['bau_cohort']}): "
                   f"{row['lift_vs_bau'] * 100:+.2f} points of lift "
                   f"[{row['lift_vs_bau_low'] * 100:+.2f}, {row['lift_vs_bau_high'] * 100:+.2f}]")
    typer.echo(f"feedback: {feedback_dir(settings, campaign) / 'feedback.html'}")
    typer.echo(f"labels for training: {summary['labels']}")


def _pct(fmt, value) -> str:
    """A percentage column (0-100) through the pages' formatter; a dash where it has no base
    (a blank would read as a missing word in a sentence)."""
    return fmt.pct(None if value is None else value / 100) or "-"
