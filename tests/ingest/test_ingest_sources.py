"""sources.yaml is checked strictly; each mistake is reported with its file and line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from segflow.cli import app
from segflow.errors import ConfigError
from segflow.ingest.sources import load_sources
from segflow.settings import get_settings


@pytest.mark.parametrize(("text", "line", "words"), [
    ("sources:\n  orders:\n    kind: csv\n    path: orders.csv\n    delimeter: ';'\n",
     5, "unknown key 'delimeter'"),
    ("sources:\n  orders:\n    kind: parquet\n    path: orders.csv\n    encoding: latin-1\n",
     5, "unknown key 'encoding' for kind parquet"),
    ("sources:\n  orders:\n    kind: csv\n    path: orders.csv\n    encoding: klingon\n",
     5, "unknown encoding 'klingon'"),
    ("sources:\n  orders:\n    kind: csv\n    path: orders.csv\n    timezone: Mars/Base\n",
     5, "unknown time zone 'Mars/Base'"),
    ("sources:\n  orders:\n    kind: csv\n    path: orders.csv\n    max_shrink: 50\n",
     5, "max_shrink must be a share between 0 and 1"),
    ("as_of: someday\nsources:\n  orders: {kind: csv, path: orders.csv}\n", 1,
     "as_of must be an ISO date"),
    ("sources:\n  orders: {kind: csv, path: orders.csv}\n  ordrs: {kind: csv, path: x.csv}\n",
     3, "unknown table 'ordrs'"),
    ("sources:\n  orders:\n    kind: csv\n    path: missing.csv\n", 4, "no such file"),
    ("sources:\n  orders:\n    kind: csv\n    path: .\n", 4,
     "is a folder; name the file in it, or every file of a kind with a pattern (e.g. *.csv)"),
    ("sources:\n  orders:\n    kind: excel\n    path: orders.csv\n", 3, "kind must be one of"),
    ("sources:\n  orders:\n    kind: csv\n", 2, "missing 'path'"),
    ("sources:\n  billing:\n    kind: sql\n    url: sqlite:///x.db\n", 2,
     "exactly one of 'table' or 'query'"),
    ("sources:\n  orders:\n    kind: csv\n    path: orders.csv\n    columns:\n"
     "      amont: value\n", 6, "unknown canonical column 'amont'"),
    ("source:\n  orders: {kind: csv, path: orders.csv}\n", 1, "top-level 'sources:'"),
])
def test_sources_yaml_errors_name_file_and_line(sources, text, line, words):
    path = sources(text, orders__csv="order_id\n")
    with pytest.raises(ConfigError) as err:
        load_sources(path, get_settings().contracts_dir)
    assert err.value.line == line
    assert words in str(err.value)
    assert str(err.value).startswith(f"{path}:{line}:")


def test_cli_ingest_prints_counts_per_table_and_reason(home, sources, customers_csv):
    orders = ("order_id,customer_id,order_ts,amount,currency,quantity,category,festival,"
              "channel,status\nO1,C1,2026-01-01,10,INR,1,sweets,,web,completed\n"
              "O2,C1,2026-01-01,10,INR,0,sweets,,web,completed\n")
    path = sources("sources:\n  customers: {kind: csv, path: customers.csv}\n"
                   "  orders: {kind: csv, path: orders.csv}\n",
                   customers__csv=customers_csv(("C1", "a@x.com"), ("C2", "A@X.COM")),
                   orders__csv=orders)
    result = CliRunner().invoke(app, ["--home", str(home.home), "ingest", "--sources", str(path)])
    assert result.exit_code == 0, result.output
    assert "merged duplicates 1" in result.output
    assert "out_of_range:quantity: 1" in result.output
    assert (home.canonical_dir / "orders.parquet").exists()
