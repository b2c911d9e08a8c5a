"""The one module that imports Evidently (0.7 API: Report, Dataset, DataDefinition).

Evidently's result list is ordered by how the preset expands, which changes between
versions; so results are read by metric type and column name from the snapshot's dict, and
the drift verdict of each column comes from the test bound to that metric's id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


def column_drift(current: pd.DataFrame, reference: pd.DataFrame, numerical: list[str],
                 categorical: list[str], out_stem: Path, *, method: str | None = None,
                 threshold: float | None = None, metadata: dict | None = None) -> pd.DataFrame:
    """Per-column drift of ``current`` against ``reference``; writes ``<stem>.html/.json``.

    Returns one row per column: column, kind, drifted, statistic, threshold, method.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    columns = [*numerical, *categorical]
    if not columns:
        return _empty()
    definition = DataDefinition(numerical_columns=list(numerical),
                                categorical_columns=list(categorical))
    # One ValueDrift per column rather than DataDriftPreset: the preset computes every
    # column again for its drifted-share metric, which we derive from these rows ourselves.
    report = Report([ValueDrift(column=c, method=method, threshold=threshold) for c in columns],
                    include_tests=True, metadata={k: str(v) for k, v in (metadata or {}).items()})
    snapshot = report.run(Dataset.from_pandas(current[columns], data_definition=definition),
                          Dataset.from_pandas(reference[columns], data_definition=definition))
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out_stem.with_suffix(".html")))
    result = json.loads(snapshot.json())
    out_stem.with_suffix(".json").write_text(
        json.dumps({"metadata": metadata or {}, **result}, indent=1, default=str),
        encoding="utf-8")
    table = read_value_drift(result)
    table["kind"] = table["column"].map(lambda c: "numerical" if c in numerical else
                                        "categorical")
    return table


def read_value_drift(result: dict) -> pd.DataFrame:
    """Rows of (column, drifted, statistic, threshold, method) from a snapshot dict."""
    failed = {t["metric_config"]["metric_id"]: t["status"] == "FAIL"
              for t in result.get("tests", []) if t.get("id") == "drift"}
    rows = []
    for metric in result.get("metrics", []):
        config = metric.get("config", {})
        if config.get("type") != VALUE_DRIFT:
            continue
        rows.append({"column": config["column"], "drifted": failed.get(metric["id"], False),
                     "statistic": float(metric["value"]), "threshold": config.get("threshold"),
                     "method": config.get("method")})
    return pd.DataFrame(rows) if rows else _empty()


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"column": pd.Series(dtype=str), "drifted": pd.Series(dtype=bool),
                         "statistic": pd.Series(dtype=float),
                         "threshold": pd.Series(dtype=float), "method": pd.Series(dtype=str),
                         "kind": pd.Series(dtype=str)})
