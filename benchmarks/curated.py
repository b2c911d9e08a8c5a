"""Curated cohorts and the process measures at scale (issue 16, items 5 and 8).

``python -m benchmarks.curated --rows 1000000 --listed 10000 --decisions 300000``

- ``apply_curated`` (one DuckDB query: memberships x curated ids, plus each id's outcome)
  on N synthetic memberships rows with K listed ids, against a peer doing the same in
  pandas (merge, masks), both from Arrow in memory;
- ``measure`` (the process tables) over D review-decision audit entries on 100 runs.

Synthetic data only: the figures are the cost of the join and the group-bys, not of a
refresh. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pyarrow as pa


def memberships(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    priority = rng.integers(1, 6, rows).astype(np.int32)
    status = np.where(rng.random(rows) < 0.05, "suppressed",
                      np.where(rng.random(rows) < 0.2, "unassigned", "assigned"))
    return pa.table({
        "run_id": pa.array(["r"] * rows), "campaign": pa.array(["c"] * rows),
        "entity_id": pa.array([f"A{i:08d}" for i in range(rows)]),
        "cohort": pa.array(np.where(status == "unassigned", None,
                                    np.char.add("tier", priority.astype(str)))),
        "template": pa.array(np.char.add("tier", priority.astype(str))),
        "split_value": pa.nulls(rows, pa.string()), "status": pa.array(status),
        "arm": pa.array(np.where(status == "assigned", "treatment", None)),
        "suppressed_by": pa.nulls(rows, pa.string()),
        "priority": pa.array(np.where(status == "unassigned", None, priority), pa.int32()),
        "rank": pa.array(np.arange(rows), pa.int64()), "score": pa.array(rng.random(rows)),
        "channels": pa.array(["email"] * rows)})


def listed(rows: int, k: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = rng.choice(rows + k // 10, k, replace=False)  # a tenth not in the population
    return pa.table({"entity_id": pa.array([f"A{i:08d}" for i in ids]),
                     "cohort": pa.array(["contract_terms"] * k),
                     "version": pa.array([1] * k, pa.int32()),
                     "priority": pa.array([0] * k, pa.int32()),
                     "channels": pa.array(["account_manager"] * k),
                     "state": pa.array(["active"] * k)})


def pandas_peer(m: pa.Table, c: pa.Table):
    """The same decision in pandas: merge, mask, assign; outcomes by a second merge."""
    md, cd = m.to_pandas(), c.to_pandas()
    x = md.merge(cd[["entity_id", "cohort", "priority", "channels"]], on="entity_id",
                 how="left", suffixes=("", "_c"))
    take = x.cohort_c.notna() & (x.status != "suppressed") & (
        x.cohort.isna() | (x.status == "unassigned") | (x.priority > x.priority_c))
    x.loc[take, "cohort"] = x.loc[take, "cohort_c"]
    x.loc[take, "status"] = "assigned"
    x.loc[take, "priority"] = x.loc[take, "priority_c"]
    x.loc[take, "channels"] = x.loc[take, "channels_c"]
    out = cd.merge(x[["entity_id", "cohort", "status"]], on="entity_id", how="left")
    return x, out


def process_entries(decisions: int, runs: int = 100, seed: int = 2):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""CREATE TABLE runs AS SELECT 'r' || i AS run_id, 'c' || (i % 5) AS campaign,
        TIMESTAMPTZ '2027-01-01' + INTERVAL (i) DAY AS created_at FROM range({runs}) t(i)""")
    con.execute(f"""CREATE TABLE entries AS SELECT
        TIMESTAMPTZ '2027-01-01' + INTERVAL (i % {runs}) DAY + INTERVAL (i // {runs}) SECOND
          AS ts, 'reviewer' || (hash(i) % 20) AS actor,
        CASE WHEN hash(i * 7) % 10 = 0 THEN 'review_overridden' ELSE 'review_confirmed' END
          AS action, 'r' || (i % {runs}) AS run_id,
        CASE WHEN hash(i * 7) % 10 = 0 THEN 'overridden' ELSE 'confirmed' END AS status,
        NULL::BIGINT AS items FROM range({decisions}) t(i)""")
    return con


def main() -> None:
    from segflow.governance.curated import apply_curated
    from segflow.governance.process import measure

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--listed", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=300_000)
    a = parser.parse_args()
    m, c = memberships(a.rows), listed(a.rows, a.listed)
    out = {"rows": a.rows, "listed": a.listed, "decisions": a.decisions}
    start = time.perf_counter()
    applied, outcomes = apply_curated(m, c)
    out["apply_curated_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    peer, peer_out = pandas_peer(m, c)
    out["pandas_peer_s"] = round(time.perf_counter() - start, 2)
    assigned = int(np.sum(np.array(outcomes["outcome"].to_pylist()) == "assigned"))
    out["assigned"] = assigned
    out["peer_assigned"] = int((peer.cohort == "contract_terms").sum())
    out["same_rows"] = applied.num_rows == len(peer) == a.rows
    con = process_entries(a.decisions)
    start = time.perf_counter()
    measure(con)
    out["process_measure_s"] = round(time.perf_counter() - start, 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
