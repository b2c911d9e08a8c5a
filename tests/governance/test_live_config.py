"""realtime.yaml: the shipped one names suppression templates that exist, and mistakes are
reported with file and line."""

from __future__ import annotations

import dataclasses

import pytest

from segflow.errors import ConfigError
from segflow.ingest.events.config import load_realtime
from segflow.settings import get_settings


def test_shipped_realtime_yaml_names_existing_suppressions():
    settings = get_settings()
    config = load_realtime(settings)
    named = {t for targets in config.suppressions.values() for t in targets}
    named |= {rule.template for rule in config.inactivity}
    assert named, "the shipped realtime.yaml applies suppressions"
    for template in named:
        text = (settings.templates_dir / f"{template}.yaml").read_text()
        assert "kind: suppression" in text
    assert config.effects("Unsubscribed") == [("suppress", "unsubscribed")]


def test_shipped_offline_rows_fit_the_contract():
    """Every column value realtime.yaml's offline: writes is one its table's contract allows
    (else the next batch build would read rows ingest would have quarantined)."""
    from segflow.ingest.contract import load_contracts

    settings = get_settings()
    contracts = load_contracts(settings.contracts_dir)
    offline = load_realtime(settings).offline
    assert offline
    for spec in offline:
        columns = {c.name: c for c in contracts[spec.table].columns}
        assert {spec.id, spec.customer, spec.time} <= set(columns)
        for values in spec.events.values():
            for name, value in values.items():
                assert value in columns[name].allowed, (spec.table, name, value)


@pytest.mark.parametrize(("text", "line", "problem"), [
    ("features:\n  - {name: x, agg: sum, events: [a]}\n", 2, "agg must be one of"),
    ("features:\n  - {name: x, agg: count, events: [a]}\n", 2, "needs window_hours > 0"),
    ("suppressions:\n  - {event: a}\n", 2, "needs exactly event and template"),
    ("kafka:\n  brokers: x\n", 2, "unknown key 'brokers' in kafka"),
    ("inactivity:\n  - {template: t, param: p, days_since: d, live: nope}\n", 2,
     "not a streaming feature"),
    ("offline:\n  engagement_events: {id: event_id, customer: c, time: t}\n", 2,
     "needs exactly id, customer, time, events"),
    ("offline:\n  t:\n    id: i\n    customer: c\n    time: ts\n    events: [a]\n", 6,
     "events must map an event name"),
    ("offline:\n  t:\n    id: i\n    customer: c\n    time: ts\n    events:\n"
     "      A: {i: x}\n", 7, "which the event itself fills"),
])
def test_mistakes_name_file_and_line(tmp_path, text, line, problem):
    (tmp_path / "segment_templates").mkdir()
    (tmp_path / "realtime.yaml").write_text(text)
    settings = dataclasses.replace(get_settings(), templates_root=tmp_path / "segment_templates")
    with pytest.raises(ConfigError) as err:
        load_realtime(settings)
    assert err.value.line == line and problem in err.value.problem
