"""Feast's own paths on the same feature files: ``get_historical_features`` with the file
(dask) and DuckDB offline stores, ``materialize`` into SQLite, ``get_online_features``.

Each peer gets its own registry under ``<home>/peers/`` so the workspace's Feast registry is
never touched; the feature views are the repo's own, loaded by ``segflow.featurestore.repo``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from benchmarks.timing import Stopwatch
from benchmarks.world import AS_OF, ENTITY, KEY, peers_dir

STORE_YAML = """project: segflow_peer
provider: local
registry: {{registry_type: file, path: {dir}/registry.db}}
offline_store: {{type: {offline}}}
online_store: {{type: sqlite, path: {dir}/online.db}}
entity_key_serialization_version: 3
auth: {{type: no_auth}}
"""


def customer_refs(repo) -> list[str]:
    return [f"{v.name}:{f}" for v in repo.views_of(ENTITY) for f in v.features]


def entity_frame(settings, limit: int | None = None) -> pd.DataFrame:
    """Every customer of the AS_OF snapshot, stamped AS_OF: the rows our retrieval returns."""
    import duckdb

    path = settings.features_dir / "customer_profile.parquet"
    limit_sql = f" LIMIT {int(limit)}" if limit else ""
    ids = duckdb.sql(f"SELECT {KEY} FROM read_parquet('{path}') WHERE event_timestamp = $t "
                     f"ORDER BY {KEY}{limit_sql}", params={"t": AS_OF}).df()
    ids["event_timestamp"] = pd.Timestamp(AS_OF)
    return ids


def peer_store(settings, repo, offline: str, name: str):
    """A FeatureStore with its own registry and the given offline store, repo applied."""
    from feast import FeatureStore

    folder = peers_dir(settings) / name
    folder.mkdir(parents=True, exist_ok=True)
    yaml_path = folder / "feature_store.yaml"
    yaml_path.write_text(STORE_YAML.format(dir=folder, offline=offline))
    store = FeatureStore(repo_path=str(folder), fs_yaml_file=yaml_path)
    store.apply(repo.objects())
    return store


def historical(settings, offline: str, limit: int | None = None) -> dict:
    """Time Feast's point-in-time retrieval of every customer feature, output as Arrow."""
    import pyarrow.parquet as pq

    from benchmarks.checks import compare, restrict
    from segflow.featurestore.repo import load_repo

    repo = load_repo(settings)
    store = peer_store(settings, repo, offline, f"feast_{offline}")
    entities = entity_frame(settings, limit)
    refs = customer_refs(repo)
    with Stopwatch() as sw:
        table = store.get_historical_features(entity_df=entities, features=refs).to_arrow()
    ours = pq.read_table(peers_dir(settings) / "ours_retrieval_sample.parquet")
    if limit:
        ours = restrict(ours, list(entities[KEY]))
    check = compare(ours, table, [r.split(":")[1] for r in refs])
    return {"seconds": sw.seconds, "info": {"rows": table.num_rows, "features": len(refs),
                                            "entity_rows": len(entities), "check": check}}


def _capped_workspace(settings, cap: int):
    """A copy of the feature files holding only the first ``cap`` customers (by id)."""
    import duckdb

    home = peers_dir(settings) / "materialize"
    capped = replace(settings, home=home).ensure()
    ids = entity_frame(settings, cap)[[KEY]]
    con = duckdb.connect()
    con.register("ids", ids)
    for path in sorted(settings.features_dir.glob("customer_*.parquet")):
        target = capped.features_dir / path.name
        con.execute(f"COPY (SELECT * FROM read_parquet('{path}') SEMI JOIN ids USING ({KEY})) "
                    f"TO '{target}' (FORMAT parquet)")
    con.close()
    return capped, len(ids)


def materialize(settings, customers: int, cap: int) -> dict:
    """Feast's materialize of every customer view into SQLite, capped at ``cap`` customers
    (extrapolated linearly to all of them when capped). Leaves the store for lookups."""
    from segflow.featurestore.repo import feature_store, load_repo

    capped, rows = _capped_workspace(settings, cap)
    repo = load_repo(capped)
    store = feature_store(capped)
    store.apply(repo.objects())
    views = repo.views_of(ENTITY)
    with Stopwatch() as sw:
        for view in views:
            store.materialize(start_date=AS_OF - view.feature_view.ttl, end_date=AS_OF,
                              feature_views=[view.name])
    total = max(customers, rows)
    return {"seconds": sw.seconds * total / rows, "info": {
        "measured_seconds": sw.seconds, "customers_materialised": rows,
        "extrapolated": rows < total, "views": len(views),
        "rows_per_second": rows * len(views) / sw.seconds}}


def online_reads(settings, timer) -> dict:
    """Feast's get_online_features from the SQLite store ``materialize`` left behind."""
    from segflow.featurestore.repo import feature_store, load_repo

    capped = replace(settings, home=peers_dir(settings) / "materialize")
    if not Path(capped.feast_dir / "online.db").exists():
        return {}
    repo = load_repo(capped)
    store = feature_store(capped)
    refs = customer_refs(repo)
    ids = list(entity_frame(capped)[KEY])

    def one(batch):
        return store.get_online_features(features=refs,
                                         entity_rows=[{KEY: i} for i in batch]).to_dict()

    return timer(one, ids, len(refs))
