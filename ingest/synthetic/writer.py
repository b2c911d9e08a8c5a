"""Write a Holi world to files, chunk by chunk, clean (canonical) or messy (sources).

Each table is streamed into one Parquet file (or ``orders.csv`` when messy), so memory is
bounded by one chunk of customers; files are written under a temporary name and renamed at
the end, so a crash never leaves a half-written table that looks complete.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segflow.ingest.synthetic.badrows import (
    bad_order_rows,
    missing_key_rows,
    orders_as_strings,
    planted,
)
from segflow.ingest.synthetic.config import HoliConfig, load_config
from segflow.ingest.synthetic.holi import TABLES, TRUTH_TABLES, iter_chunks, resolve_end
from segflow.ingest.synthetic.messy import duplicates, local_phones, messy_emails, move_orders

MESSY_TRUTH = ("holi_planted", "holi_duplicates")


class _Sink:
    """One output file fed chunk by chunk; counts rows so planted rows get file positions."""

    def __init__(self, path: Path):
        self.path, self.rows, self._writer = path, 0, None
        self._partial = path.with_name(path.name + ".partial")

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.suffix == ".csv":
                self._writer = pacsv.CSVWriter(self._partial, table.schema)
            else:
                self._writer = pq.ParquetWriter(self._partial, table.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> Path:
        self._writer.close()
        self._partial.replace(self.path)
        return self.path


def _mess_up(rng, cfg: HoliConfig, tables: dict, first_dup: int, end: int) -> dict:
    """Source-file versions of one clean chunk plus the planted-row and duplicate truth."""
    m = cfg["messy"]
    cust = tables["customers"]
    dup, mapping = duplicates(rng, m, cust, first_dup, end)
    cust = cust.set_column(cust.schema.get_field_index("email"), "email",
                           messy_emails(rng, m, cust["email"].combine_chunks()))
    cust = cust.set_column(cust.schema.get_field_index("phone"), "phone", local_phones(
        rng, m, cust["phone"].combine_chunks(), cust["country"].combine_chunks(),
        float(m["phone_local_share"])))
    n, k = cust.num_rows, dup.num_rows
    bad_c, pl_c = missing_key_rows(rng, m, cust, "customers", "customer_id", "customer_id", n + k)
    pl_dup = planted("customers", n, mapping["duplicate_id"].combine_chunks(), ["duplicate"] * k)
    orders, billing = move_orders(rng, m, tables["orders"], tables["billing"], mapping)
    orders = orders_as_strings(orders)
    bad_o, pl_o = bad_order_rows(rng, m, orders)
    events = tables["engagement_events"]
    bad_e, pl_e = missing_key_rows(rng, m, events, "engagement_events", "event_id",
                                   "customer_id", events.num_rows)
    return dict(tables,
                customers=pa.concat_tables([cust, dup, bad_c]),
                orders=pa.concat_tables([orders, bad_o]),
                billing=billing,
                engagement_events=pa.concat_tables([events, bad_e]),
                holi_planted=pa.concat_tables([pl_dup, pl_c, pl_o, pl_e]),
                holi_duplicates=mapping)


def _with_offsets(planted_rows: pa.Table, sinks: dict[str, _Sink]) -> pa.Table:
    """Chunk-local planted rows -> row numbers in the whole file (before this chunk is written)."""
    names = sorted(set(planted_rows["table"].to_pylist()))
    offsets = pa.array([sinks[t].rows if t in sinks else 0 for t in names], pa.int64())
    pos = pc.index_in(planted_rows["table"], value_set=pa.array(names))
    rows = pc.add(planted_rows["source_row"], offsets.take(pos))
    return planted_rows.set_column(1, "source_row", rows)


def write_holi_world(out_dir: Path, customers: int, seed: int = 7,
                     end: datetime | str | None = None, messy: bool = False,
                     truth_dir: Path | None = None) -> dict[str, Path]:
    """Write every table of the world; returns table name -> file path.

    Canonical tables go to ``out_dir/<table>.parquet`` (``orders.csv`` when ``messy``),
    truth to ``truth_dir`` (default ``out_dir/truth``). Same arguments => identical bytes.
    """
    cfg = load_config()
    out_dir = Path(out_dir)
    truth_dir = Path(truth_dir) if truth_dir else out_dir / "truth"
    end_s = resolve_end(cfg, end)
    names = TABLES + TRUTH_TABLES + (MESSY_TRUTH if messy else ())
    paths = {t: out_dir / f"{t}.parquet" for t in TABLES}
    paths.update({t: truth_dir / f"{t}.parquet" for t in TRUTH_TABLES + MESSY_TRUTH})
    if messy:
        paths["orders"] = out_dir / "orders.csv"
    sinks: dict[str, _Sink] = {}
    next_dup = customers + 1
    for chunk, tables in enumerate(iter_chunks(customers, seed, end, cfg)):
        if messy:
            tables = _mess_up(np.random.default_rng([seed, chunk, 1]), cfg, tables,
                              next_dup, end_s)
            next_dup += tables["holi_duplicates"].num_rows
            tables["holi_planted"] = _with_offsets(tables["holi_planted"], sinks)
        for name in names:
            sinks.setdefault(name, _Sink(paths[name])).write(tables[name])
    return {name: sinks[name].close() for name in names}


def write_sources_yaml(folder: Path, paths: dict[str, Path],
                       as_of: datetime | None = None) -> Path:
    """``sources.yaml`` naming each canonical table's file, relative to ``folder``, and the
    world's end as ``as_of`` (default: the configured end), so that ingest measures future
    dates from the world's time rather than today's clock."""
    import yaml

    sources = {
        table: {"kind": "csv" if path.suffix == ".csv" else "parquet",
                "path": str(Path(path).resolve().relative_to(Path(folder).resolve())),
                "columns": {}}
        for table, path in paths.items()
    }
    target = Path(folder) / "sources.yaml"
    as_of = as_of or load_config()["window"]["default_end"]
    target.write_text("# Written by `segflow demo-data`; read by `segflow ingest`.\n"
                      + yaml.safe_dump({"as_of": as_of.isoformat(), "sources": sources},
                                       sort_keys=False), encoding="utf-8")
    return target


def write_holi_sources(sources_dir: Path, truth_dir: Path, customers: int, seed: int = 7,
                       end=None) -> tuple[Path, dict[str, Path]]:
    """The Holi world as a user's messy sources plus ``sources.yaml``, truth kept apart:
    what `segflow demo-data holi` and the demo write. Returns (sources.yaml, every file)."""
    from segflow.ingest.synthetic.holi import TABLES

    paths = write_holi_world(sources_dir, customers, seed, end, messy=True, truth_dir=truth_dir)
    as_of = datetime.fromtimestamp(resolve_end(load_config(), end), UTC)
    return write_sources_yaml(sources_dir, {t: paths[t] for t in TABLES}, as_of), paths


def count_rows(path: Path) -> int:
    """Data rows of a Parquet file (from its footer) or a CSV file with a header line."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as fh:
        lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 24), b""))
    return max(lines - 1, 0)
