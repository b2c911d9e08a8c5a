"""Alerts: a failed flow posts campaign, step, error and a run link to a webhook; a run the
gate holds back (blocked, or waiting for a decision) posts its reasons and its report.

The payload is Slack-compatible (``text`` plus ``blocks``) and readable by Teams' incoming
webhooks (which take ``text``). Posting never raises: an alert that cannot be delivered is
logged, because a broken webhook must not hide the original failure.
"""

from __future__ import annotations

import json
import logging
import urllib.request

log = logging.getLogger("segflow.alerts")


def failure_message(campaign: str, step: str, error: str, run_link: str | None) -> dict:
    """The webhook payload for one failure."""
    lines = [f"segflow: campaign *{campaign}* failed at step *{step}*", f"error: {error}"]
    if run_link:
        lines.append(f"run: {run_link}")
    text = "\n".join(lines)
    return {
        "text": text,
        "campaign": campaign,
        "step": step,
        "error": error,
        "run_link": run_link,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def verdict_message(campaign: str, run_id: str, state: str, reasons: list[str],
                    report: str, run_link: str | None) -> dict:
    """The webhook payload for a run that was not published: why, and where to look."""
    what = "is blocked" if state == "blocked" else "is waiting for a decision"
    lines = [f"segflow: campaign *{campaign}* run {run_id} {what}",
             *[f"- {r}" for r in reasons], f"report: {report}"]
    if run_link and run_link != report:
        lines.append(f"run: {run_link}")
    text = "\n".join(lines)
    return {"text": text, "campaign": campaign, "run_id": run_id, "state": state,
            "reasons": reasons, "report": report, "run_link": run_link, "step": "gate",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def post_alert(url: str | None, payload: dict, timeout: float = 10.0) -> bool:
    """POST the payload as JSON; log it either way (a failure as an error, a run held back
    by the gate as a warning). Returns whether the webhook took it."""
    log.log(logging.WARNING if payload.get("step") == "gate" else logging.ERROR,
            payload["text"])
    if not url:
        return False
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return 200 <= response.status < 300
    except OSError as err:
        log.error("could not deliver the failure alert to %s: %s", url, err)
        return False
