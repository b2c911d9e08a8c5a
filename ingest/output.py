"""Writing ingest's outputs: canonical tables, quarantine files and the report, atomically.

Everything of one run is first written beside its target as ``*.tmp`` and renamed into place
only when every table has passed, so a failed run leaves the previous canonical tables whole.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BATCH_ROWS = 1 << 20   # rows per streamed Parquet batch: ~100 MB for the widest table


@dataclass
class TableReport:
    table: str
    source: str
    rows_in: int = 0
    accepted: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)   # reason -> rows
    merged: int = 0          # accepted customers folded into a survivor (see merge map)
    written: int = 0         # rows in the canonical table = accepted - merged
    warnings: dict[str, int] = field(default_factory=dict)      # kept rows with a fixed value

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())


@dataclass
class IngestReport:
    sources_yaml: str
    tables: dict[str, TableReport] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)       # name -> written path

    def to_dict(self) -> dict:
        return {"sources_yaml": self.sources_yaml, "outputs": self.outputs,
                "tables": {name: {**asdict(t), "quarantined_total": t.quarantined_total}
                           for name, t in self.tables.items()}}


class StagedWriter:
    """Collects files as ``*.tmp`` and moves them into place together on ``commit``."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def _tmp(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        self._pending.append((tmp, path))
        return tmp

    @property
    def targets(self) -> list[Path]:
        return [path for _, path in self._pending]

    def parquet(self, table: pa.Table, path: Path) -> None:
        pq.write_table(table, self._tmp(path))

    def parquet_query(self, con, sql: str, path: Path, schema: pa.Schema | None = None) -> int:
        """Stream a DuckDB query into Parquet batch by batch; return the rows written.

        Never holds the whole result in Python, so a 30M-row table costs one batch of memory;
        ``schema`` (when given) fixes types, nullability and field descriptions.
        """
        reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
        rows = 0
        with pq.ParquetWriter(self._tmp(path), schema or reader.schema) as out:
            for batch in reader:
                part = pa.Table.from_batches([batch])
                out.write(part if schema is None else part.cast(schema))
                rows += batch.num_rows
        return rows

    def staged(self, path: Path) -> Path | None:
        """Where ``path`` is being written until commit (renaming keeps size and mtime)."""
        return next((tmp for tmp, final in self._pending if final == path), None)

    def json(self, data: dict, path: Path) -> None:
        self._tmp(path).write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")

    def commit(self) -> None:
        for tmp, path in self._pending:
            os.replace(tmp, path)
        self._pending.clear()

    def discard(self) -> None:
        for tmp, _ in self._pending:
            tmp.unlink(missing_ok=True)
        self._pending.clear()
