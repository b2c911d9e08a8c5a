"""Parent/child accounts roll up to their top parent; a loop is an error naming accounts."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from segflow.ingest.hierarchy import HierarchyCycleError, roll_up
from segflow.ingest.pipeline import run_ingest

HEADER = "account_id,parent_account_id,name,industry,region,country,created_ts,strategic_flag,owner"


def _accounts(rows):
    return "\n".join([HEADER, *(f"{a},{p},{a} Ltd,retail,Delhi,IN,2020-01-01,false,asha.rao"
                                for a, p in rows)]) + "\n"


def test_multi_level_roll_up(home, sources):
    rows = [("A3", "A2"), ("A1", ""), ("A2", "A1"), ("A4", "A3"), ("B1", ""), ("B2", "B1"),
            ("X1", "NOPE"), ("X2", "X1")]
    path = sources("sources:\n  accounts: {kind: csv, path: accounts.csv}\n",
                   accounts__csv=_accounts(rows))
    report = run_ingest(home, path)
    tree = {r["account_id"]: (r["top_account_id"], r["depth"]) for r in
            pq.read_table(home.canonical_dir / "account_hierarchy.parquet").to_pylist()}
    assert tree == {"A1": ("A1", 0), "A2": ("A1", 1), "A3": ("A1", 2), "A4": ("A1", 3),
                    "B1": ("B1", 0), "B2": ("B1", 1)}
    # an unknown parent quarantines its account and, in turn, that account's children
    assert report.tables["accounts"].quarantined == {"orphan:parent_account_id": 2}


def test_cycle_is_an_error_naming_the_accounts(home, sources):
    rows = [("A1", ""), ("C1", "C3"), ("C2", "C1"), ("C3", "C2"), ("C4", "C3")]
    path = sources("sources:\n  accounts: {kind: csv, path: accounts.csv}\n",
                   accounts__csv=_accounts(rows))
    with pytest.raises(HierarchyCycleError, match="C1, C2, C3"):
        run_ingest(home, path)


def test_roll_up_of_a_deep_chain():
    n = 1000
    ids = np.array([f"A{i}" for i in range(n)], dtype=object)
    parents = np.array([None] + [f"A{i - 1}" for i in range(1, n)], dtype=object)
    tree = roll_up(ids, parents)
    assert set(tree["top_account_id"].to_pylist()) == {"A0"}
    assert tree["depth"].to_pylist() == list(range(n))
