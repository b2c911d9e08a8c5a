"""Deployments: one per campaign file, on the campaign's own cron schedule and time zone."""

from __future__ import annotations

from segflow.settings import Settings


def campaign_deployments(settings: Settings, campaigns: list[str] | None = None) -> list:
    """A RunnerDeployment of ``campaign-refresh`` for each scheduled campaign file."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from segflow.flows.campaign import campaign_refresh
    from segflow.scoring.resolve import resolve_campaign

    deployments = []
    names = campaigns or sorted(p.stem for p in settings.campaigns_dir.glob("*.yaml"))
    for name in names:
        schedule = resolve_campaign(settings, name, None).campaign.schedule
        cron = schedule.get("cron")
        schedules = [Cron(cron, timezone=schedule.get("timezone") or "UTC")] if cron else None
        deployments.append(campaign_refresh.to_deployment(
            name=name,
            schedules=schedules,
            parameters={"campaign": name},
            description=f"Scheduled refresh of campaign {name}",
            tags=["segflow", name],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ))
    return deployments


def serve_campaigns(settings: Settings, campaigns: list[str] | None = None,
                    limit: int = 1) -> None:
    """Register the deployments on the configured server and execute their runs (blocks)."""
    from prefect import serve

    serve(*campaign_deployments(settings, campaigns), limit=limit,
          print_starting_message=True)
