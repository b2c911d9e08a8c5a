"""The project's ``realtime.yaml`` (``Settings.realtime_path``): which incoming event
changes which live suppression, ends which cohort, or feeds which streaming feature.

Platform code names no event and no template: a business decides in this file that an
"Unsubscribed" event suppresses through its ``unsubscribed`` template, so the same receiver
serves a B2B workspace whose events are called something else. Every key is checked
strictly; a mistake names the file and line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from segflow.errors import ConfigError, SegflowError
from segflow.ingest.events.survey_config import parse_surveys
from segflow.settings import Settings
from segflow.yamlio import load_yaml

TOP = ("entity", "webhook", "lookup", "kafka", "freshness", "suppressions", "ends", "features",
       "inactivity", "offline", "surveys")
OFFLINE = ("id", "customer", "time", "events")
INACTIVITY = ("template", "param", "days_since", "live")
AGGS = ("count", "latest")


@dataclass(frozen=True)
class Feature:
    """A streaming feature: ``count`` of ``events`` in the last ``window_hours``, or the
    ``latest`` event time; computed at read time, so a 24-hour window is exact."""

    name: str
    agg: str
    events: tuple[str, ...]
    window_hours: float | None = None
    # a count that adds to this column of the published run's scored frame: its live
    # value is the run's value plus the events applied since the run's as-of; what a
    # template marked ``live: true`` may re-evaluate between refreshes (docs/realtime.md)
    column: str | None = None


@dataclass(frozen=True)
class Inactivity:
    """A time-based suppression evaluated at read time: the customer's last activity is
    the later of the published run's (``days_since``, a feature of its scored frame, days
    before its as-of) and the live ``latest`` feature ``live``; inactive when the template's
    ``param`` days have passed since it, against the clock."""

    template: str
    param: str
    days_since: str
    live: str


@dataclass(frozen=True)
class Offline:
    """Applied events appended to a canonical table as daily Parquet, for the next batch
    build: the event id, customer and time go to the ``id``, ``customer`` and ``time``
    columns, and each event name listed under ``events`` adds its constant columns
    (``Email Opened: {channel: email, event_type: open}``); other events are not appended."""

    table: str
    id: str
    customer: str
    time: str
    events: dict[str, dict[str, object]]


@dataclass(frozen=True)
class RealtimeConfig:
    path: Path
    entity: str = "customer"
    secret_env: str = "SEGFLOW_WEBHOOK_SECRET"
    keys_env: str = "SEGFLOW_LOOKUP_KEYS"
    group: str = "segflow-live"
    topics: dict[str, str] = field(default_factory=dict)
    p95_limit_seconds: float = 1.0
    suppressions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # event -> templates
    ends: dict[str, tuple[str, ...]] = field(default_factory=dict)          # event -> cohorts
    features: tuple[Feature, ...] = ()
    inactivity: tuple[Inactivity, ...] = ()
    offline: tuple[Offline, ...] = ()
    surveys: dict = field(default_factory=dict)  # tool -> survey_config.SurveyMapping

    def secret(self) -> bytes:
        """The webhook's shared secret, from the environment variable the file names; a
        receiver without one would accept anybody's events, so it refuses to start."""
        value = os.environ.get(self.secret_env, "")
        if not value:
            raise SegflowError(f"no webhook secret: set {self.secret_env} to the shared secret "
                               f"configured in Segment ({self.path} names the variable)")
        return value.encode()

    def api_keys(self) -> dict[str, str]:
        """{key: consumer} from the environment variable the file names (may be empty:
        then every lookup is refused)."""
        keys = {}
        for item in os.environ.get(self.keys_env, "").split(","):
            consumer, _, key = item.strip().partition(":")
            if consumer and key:
                keys[key] = consumer
        return keys

    def live_columns(self) -> dict[str, Feature]:
        """{scored-frame column: the count feature that adds to it}: the columns a
        ``live: true`` template re-evaluates between refreshes."""
        return {f.column: f for f in self.features if f.column}

    def effects(self, event: str) -> list[tuple[str, str]]:
        """(effect, target) pairs an event causes: ('suppress', template), ('end', cohort)."""
        return ([("suppress", t) for t in self.suppressions.get(event, ())]
                + [("end", c) for c in self.ends.get(event, ())])


def _fail(path: Path, data, key, problem: str):
    line = data.line(key) if hasattr(data, "line") else None
    raise ConfigError(path, line, problem)


def _mapping(path: Path, data, key, allowed: tuple[str, ...]) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        _fail(path, data, key, f"'{key}' must be a mapping")
    for k in value:
        if k not in allowed:
            _fail(path, value, k, f"unknown key '{k}' in {key}; allowed: {', '.join(allowed)}")
    return value


def _rules(path: Path, data, key: str, target: str) -> dict[str, tuple[str, ...]]:
    """``[{event: E, <target>: X or [X, ...]}, ...]`` -> {E: (X, ...)}."""
    out: dict[str, tuple[str, ...]] = {}
    rows = data.get(key) or []
    if not isinstance(rows, list):
        _fail(path, data, key, f"'{key}' must be a list of {{event, {target}}}")
    for row in rows:
        if not isinstance(row, dict) or set(row) != {"event", target}:
            line = getattr(row, "start_line", data.line(key))
            raise ConfigError(path, line, f"each entry of {key} needs exactly event and {target}")
        values = row[target] if isinstance(row[target], list) else [row[target]]
        out[str(row["event"])] = (*out.get(str(row["event"]), ()), *map(str, values))
    return out


def _features(path: Path, data) -> tuple[Feature, ...]:
    out, seen = [], set()
    for row in data.get("features") or []:
        line = getattr(row, "start_line", data.line("features"))
        if not isinstance(row, dict) or not {"name", "agg", "events"} <= set(row) \
                or set(row) - {"name", "agg", "events", "window_hours", "column"}:
            raise ConfigError(path, line, "each feature needs name, agg and events "
                                          "(window_hours for a count; column optional)")
        if row["agg"] not in AGGS:
            raise ConfigError(path, line, f"agg must be one of {', '.join(AGGS)}, "
                                          f"got {row['agg']!r}")
        window = row.get("window_hours")
        if row["agg"] == "count" and not (isinstance(window, int | float) and window > 0):
            raise ConfigError(path, line, "a count feature needs window_hours > 0")
        column = row.get("column")
        if column is not None and (row["agg"] != "count" or not isinstance(column, str)):
            raise ConfigError(path, line, "column (the scored frame's column a count adds "
                                          "to) applies to agg: count only, and names one column")
        if row["name"] in seen:
            raise ConfigError(path, line, f"feature {row['name']!r} is defined twice")
        seen.add(row["name"])
        events = row["events"] if isinstance(row["events"], list) else [row["events"]]
        out.append(Feature(str(row["name"]), row["agg"], tuple(map(str, events)),
                           float(window) if window else None, column))
    return tuple(out)


def _inactivity(path: Path, data, features: tuple[Feature, ...]) -> tuple[Inactivity, ...]:
    latest = {f.name for f in features if f.agg == "latest"}
    out = []
    for row in data.get("inactivity") or []:
        line = getattr(row, "start_line", data.line("inactivity"))
        if not isinstance(row, dict) or set(row) != set(INACTIVITY):
            raise ConfigError(path, line, "each inactivity rule needs exactly "
                                          + ", ".join(INACTIVITY))
        if row["live"] not in latest:
            raise ConfigError(path, line, f"live: {row['live']!r} is not a streaming feature "
                                          f"with agg: latest (those are: {sorted(latest)})")
        out.append(Inactivity(*(str(row[k]) for k in INACTIVITY)))
    return tuple(out)


def _offline(path: Path, data) -> tuple[Offline, ...]:
    """``offline: {<table>: {id, customer, time, events: {<event>: {<column>: value}}}}``."""
    tables = data.get("offline") or {}
    if not isinstance(tables, dict):
        _fail(path, data, "offline", "'offline' must map a canonical table to its columns")
    out = []
    for table, spec in tables.items():
        if not isinstance(spec, dict) or set(spec) != set(OFFLINE):
            _fail(path, tables, table, f"offline table {table!r} needs exactly "
                  + ", ".join(OFFLINE))
        events = spec["events"]
        if not isinstance(events, dict) or not events or not all(
                isinstance(v, dict) and all(isinstance(x, str | int | float | bool)
                                            for x in v.values()) for v in events.values()):
            _fail(path, spec, "events", "events must map an event name to its constant "
                  "columns ({Email Opened: {channel: email, event_type: open}})")
        fixed = {str(spec[k]) for k in ("id", "customer", "time")}
        for name, columns in events.items():
            if fixed & set(map(str, columns)):
                _fail(path, events, name, f"event {name!r} sets {sorted(fixed & set(columns))}"
                      ", which the event itself fills (id, customer, time)")
        out.append(Offline(str(table), str(spec["id"]), str(spec["customer"]),
                           str(spec["time"]), {str(n): {str(c): v for c, v in cols.items()}
                                               for n, cols in events.items()}))
    return tuple(out)


def load_realtime(settings: Settings) -> RealtimeConfig:
    """The project's realtime.yaml, checked; a missing file is an error (no silent
    defaults deciding what an event suppresses)."""
    path = settings.realtime_path
    if not path.exists():
        raise SegflowError(f"no real-time configuration at {path}; write realtime.yaml beside "
                           "segment_templates/ (docs/realtime.md)")
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, 1, "realtime.yaml must be a mapping")
    for key in data:
        if key not in TOP:
            _fail(path, data, key, f"unknown key '{key}'; allowed: {', '.join(TOP)}")
    webhook = _mapping(path, data, "webhook", ("secret_env",))
    lookup = _mapping(path, data, "lookup", ("keys_env",))
    kafka = _mapping(path, data, "kafka", ("group", "topics"))
    fresh = _mapping(path, data, "freshness", ("p95_limit_seconds",))
    topics = kafka.get("topics") or {}
    if not isinstance(topics, dict):
        _fail(path, kafka, "topics", "kafka topics must map an event kind to a topic name")
    limit = fresh.get("p95_limit_seconds", 1.0)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
        _fail(path, fresh, "p95_limit_seconds", "p95_limit_seconds must be a positive number")
    return RealtimeConfig(
        path=path, entity=str(data.get("entity", "customer")),
        secret_env=str(webhook.get("secret_env", "SEGFLOW_WEBHOOK_SECRET")),
        keys_env=str(lookup.get("keys_env", "SEGFLOW_LOOKUP_KEYS")),
        group=str(kafka.get("group", "segflow-live")),
        topics={str(k): str(v) for k, v in topics.items()},
        p95_limit_seconds=float(limit),
        suppressions=_rules(path, data, "suppressions", "template"),
        ends=_rules(path, data, "ends", "cohorts"),
        features=(features := _features(path, data)),
        inactivity=_inactivity(path, data, features),
        offline=_offline(path, data), surveys=parse_surveys(path, data))
