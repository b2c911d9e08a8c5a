"""A failing step fails the flow with its own error and posts an alert naming the step."""

from __future__ import annotations

import pytest

from segflow.flows.alerts import failure_message, post_alert
from segflow.settings import get_settings, set_home


def test_alert_payload_names_campaign_step_error_and_link(webhook):
    url, received = webhook
    payload = failure_message("holi_2027", "ingest", "SchemaChangedError: orders.amount",
                              "http://127.0.0.1:4200/runs/flow-run/1")
    assert post_alert(url, payload) is True
    (body,) = received
    assert body["campaign"] == "holi_2027" and body["step"] == "ingest"
    assert "orders.amount" in body["text"] and "flow-run/1" in body["text"]
    assert body["blocks"][0]["text"]["text"] == body["text"]


def test_undeliverable_alert_is_logged_not_raised(caplog):
    payload = failure_message("c", "publish", "boom", None)
    assert post_alert("http://127.0.0.1:9/unreachable", payload, timeout=2) is False
    assert "publish" in caplog.text


@pytest.mark.integration
def test_failed_step_fails_flow_and_alerts(home, webhook, monkeypatch, prefect_api):
    """No sources in the workspace: ingest fails, the flow fails, nothing is published."""
    url, received = webhook
    monkeypatch.setenv("SEGFLOW_ALERT_WEBHOOK", url)
    set_home(home.home)
    from segflow.flows.prefect_env import configure_prefect

    for key, value in configure_prefect(get_settings(), apply=False).items():
        monkeypatch.setenv(key, value)
    from segflow.flows.campaign import campaign_refresh

    with pytest.raises(Exception) as err:
        campaign_refresh(campaign="holi_2027")
    assert "sources.yaml" in str(err.value)
    (body,) = received
    assert body["step"] == "ingest" and body["campaign"] == "holi_2027"
    assert not (home.runs_dir.exists() and any(home.runs_dir.iterdir()))
