"""The peers as stages (same signature as ``benchmarks.stages``): the read-once floor, Feast's
retrieval and materialisation, the hand-written pandas pipeline, and online lookups."""

from __future__ import annotations

import json

from benchmarks.timing import Stopwatch
from benchmarks.world import AS_OF, KEY, peers_dir, runs_file
from segflow import canonical
from segflow.errors import SegflowError

# Feast's file store holds the whole join in pandas (5.5 GB for 2M x 20): above this many
# entity rows it runs on the first N customers and is extrapolated linearly.
FEAST_FILE_CAP = 2_000_000
FEAST_DUCKDB_CAP = 10_000_000
MATERIALIZE_CAP = 200_000  # Feast writes ~3,500 rows/s into SQLite
# pandas holds every order and event in memory (7.8 GB at 1M customers): above this it runs
# on the first N customers' rows and is extrapolated linearly.
PANDAS_CAP = 1_000_000


def floor(settings, customers: int) -> dict:
    """Read every column of every canonical table once: DuckDB sums a hash of every value.
    (Not max(): DuckDB answers that from the Parquet statistics without reading the data.)"""
    import duckdb
    import pyarrow.parquet as pq

    tables = sorted(settings.canonical_dir.glob("*.parquet"))
    if not tables:  # a floor of nothing would be a figure of 0 s, not a failed stage
        raise SegflowError(f"no canonical tables in {settings.canonical_dir}: the floor "
                           "reads what the ingest stage wrote; run it first")
    con = duckdb.connect()
    info = {}
    with Stopwatch() as sw:
        for path in tables:
            cols = pq.read_schema(path).names
            aggs = ", ".join(f'sum(hash("{c}"))' for c in cols)
            con.execute(f"SELECT count(*), {aggs} FROM {canonical.source(path)}").fetchall()
            info[path.stem] = {"rows": pq.read_metadata(path).num_rows, "columns": len(cols)}
    con.close()
    return {"seconds": sw.seconds, "info": info}


def _extrapolated(result: dict, customers: int, cap: int) -> dict:
    rows = result["info"]["entity_rows"]
    if rows < customers:
        result["info"]["measured_seconds"] = result["seconds"]
        result["info"]["extrapolated"] = True
        result["seconds"] *= customers / rows
    return result


def feast_file(settings, customers: int) -> dict:
    from benchmarks.feast_peers import historical

    cap = FEAST_FILE_CAP if customers > FEAST_FILE_CAP else None
    return _extrapolated(historical(settings, "file", cap), customers, FEAST_FILE_CAP)


def feast_duckdb(settings, customers: int) -> dict:
    from benchmarks.feast_peers import historical

    cap = FEAST_DUCKDB_CAP if customers > FEAST_DUCKDB_CAP else None
    return _extrapolated(historical(settings, "duckdb", cap), customers, FEAST_DUCKDB_CAP)


def feast_materialize(settings, customers: int) -> dict:
    from benchmarks.feast_peers import materialize

    return materialize(settings, customers, MATERIALIZE_CAP)


def pandas(settings, customers: int) -> dict:
    """The hand-written pandas features and cohorts, checked against ours on a sample."""
    import pyarrow.parquet as pq

    from benchmarks import pandas_cohorts, pandas_peer
    from benchmarks.checks import compare, restrict

    run_id = json.loads(runs_file(settings).read_text())["current"]
    run = settings.runs_dir / run_id
    scores = pq.read_table(run / "features.parquet",
                           columns=[KEY, "holi_propensity", "flash_sale_uplift"]).to_pandas()
    canonical, ids = settings.canonical_dir, None
    if customers > PANDAS_CAP:  # set-up, not timed: the first PANDAS_CAP customers' rows
        canonical, ids = _capped_canonical(settings, PANDAS_CAP)
    phases = {}
    with Stopwatch() as sw:
        frame = pandas_peer.features(canonical, settings.feature_repo_dir, AS_OF)
        phases["features"] = sw.split()
        frame = frame.merge(scores, on=KEY, how="left")
        members = pandas_cohorts.assign(frame)
    phases["cohorts"] = sw.seconds - phases["features"]
    ours = pq.read_table(peers_dir(settings) / "ours_retrieval_sample.parquet")
    feature_cols = [c for c in ours.column_names if c not in (KEY, "event_timestamp")]
    mine = pq.read_table(run / "memberships.parquet", columns=["entity_id", "cohort", "status"])
    mine = mine.rename_columns([KEY, "cohort", "status"])
    if ids is not None:
        ours = restrict(ours, ids)
    mine = restrict(mine, ours[KEY].to_pylist())
    result = {"seconds": sw.seconds, "phases": phases, "info": {
        "rows": len(frame), "entity_rows": len(frame),
        "check_features": compare(ours, frame, feature_cols),
        "check_cohorts": compare(mine, members, ["cohort", "status"])}}
    return _extrapolated(result, customers, PANDAS_CAP)


def _capped_canonical(settings, cap: int):
    """The canonical tables the pandas peer reads, holding only the first ``cap`` customers
    (by id, as for Feast's capped runs) and their orders and events."""
    import duckdb

    from benchmarks.feast_peers import entity_frame

    target = peers_dir(settings) / "pandas_canonical"
    target.mkdir(parents=True, exist_ok=True)
    ids = entity_frame(settings, cap)[[KEY]]
    con = duckdb.connect()
    con.register("ids", ids)
    for table in ("customers", "orders", "engagement_events"):
        source = settings.canonical_dir / f"{table}.parquet"
        con.execute(f"COPY (SELECT * FROM {canonical.source(source)} SEMI JOIN ids USING ({KEY})) "
                    f"TO '{target / f'{table}.parquet'}' (FORMAT parquet)")
    con.close()
    return target, list(ids[KEY])


def lookups(settings, customers: int) -> dict:
    """Our online lookups and Feast's get_online_features, p50/p99."""
    import pyarrow.parquet as pq

    from benchmarks.feast_peers import online_reads
    from benchmarks.lookups import (
        features_latency,
        held_connection_latency,
        latency,
        memberships_latency,
    )

    ids = pq.read_table(peers_dir(settings) / "ours_retrieval_sample.parquet",
                        columns=[KEY])[KEY].to_pylist()
    with Stopwatch() as sw:
        info = {"features": features_latency(settings, ids),
                "memberships": memberships_latency(settings, ids),
                "held": held_connection_latency(settings, ids),
                "feast_online": online_reads(settings, latency)}
    return {"seconds": sw.seconds, "info": info}
