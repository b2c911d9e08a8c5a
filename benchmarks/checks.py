"""Equality checks between our outputs and a peer's on a sample of entities.

A timing is only a comparison if both sides computed the same thing: each peer's output is
joined to ours on the key and compared cell by cell (nulls equal nulls, floats within a
relative 1e-9, timestamps as UTC instants). The check's counts go into the results table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SAMPLE_ROWS = 5_000
KEY = "customer_id"


def sample_ids(ids, size: int = SAMPLE_ROWS) -> list[str]:
    """Evenly spaced ids over the sorted ids: deterministic, covers the whole range."""
    ordered = np.sort(np.asarray(ids, dtype=object))
    if len(ordered) <= size:
        return list(ordered)
    return list(ordered[np.linspace(0, len(ordered) - 1, size).astype(np.int64)])


def restrict(table: pa.Table, ids: list[str], key: str = KEY) -> pa.Table:
    import pyarrow.compute as pc

    return table.filter(pc.is_in(table[key], value_set=pa.array(ids, pa.string())))


def write_sample(frame: pa.Table, path: Path, key: str = KEY) -> Path:
    pq.write_table(restrict(frame, sample_ids(frame[key].to_numpy(zero_copy_only=False)), key),
                   path)
    return path


def _normalise(values: list) -> list:
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
        elif hasattr(v, "to_pydatetime"):
            out.append(v.to_pydatetime())
        elif isinstance(v, np.generic):
            out.append(v.item())
        else:
            out.append(v)
    return out


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=1e-9))
    return a == b


def compare(ours: pa.Table, theirs, columns: list[str], key: str = KEY) -> dict:
    """Cells of ``columns`` that differ between ours and theirs on ours' keys.

    ``theirs`` may be Arrow or pandas; rows of ours missing from theirs count as mismatches.
    """
    if not isinstance(theirs, pa.Table):
        theirs = pa.Table.from_pandas(theirs, preserve_index=False)
    theirs = restrict(theirs, ours[key].to_pylist(), key)
    lookup = {k: i for i, k in enumerate(theirs[key].to_pylist())}
    rows = [lookup.get(k) for k in ours[key].to_pylist()]
    missing = sum(r is None for r in rows)
    bad: dict[str, int] = {}
    example = None
    for col in columns:
        mine = _normalise(ours[col].to_pylist())
        other = _normalise(theirs[col].to_pylist()) if col in theirs.column_names else None
        for i, r in enumerate(rows):
            if r is None:
                continue
            if other is None or not _same(mine[i], other[r]):
                bad[col] = bad.get(col, 0) + 1
                if example is None:
                    example = {"id": ours[key][i].as_py(), "column": col, "ours": str(mine[i]),
                               "theirs": None if other is None else str(other[r])}
    return {"rows": ours.num_rows, "columns": len(columns), "missing_rows": missing,
            "mismatched_cells": sum(bad.values()), "by_column": bad, "example": example,
            "equal": missing == 0 and not bad}
