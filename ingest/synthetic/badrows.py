"""Bad rows planted in source files: missing keys, unparsable dates, negative quantities,
unknown currencies. Each is an extra copy of a real row, so the clean world survives
quarantine untouched, and each is returned with its kind for ``truth/holi_planted``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segflow.ingest.synthetic.messy import BAD_ORDER_KINDS, PLANTED_SCHEMA


def _sample(rng, table: pa.Table, share: float, minimum: int) -> tuple[pa.Table, int]:
    k = min(table.num_rows, max(minimum, int(round(table.num_rows * share))))
    return table.take(pa.array(np.sort(rng.choice(table.num_rows, size=k, replace=False)))), k


def planted(table: str, first_row: int, keys: pa.Array, kinds) -> pa.Table:
    """Planted-row records; ``first_row`` is the local row of the first planted row."""
    k = len(keys)
    return pa.table({"table": pa.array([table] * k, pa.string()),
                     "source_row": pa.array(np.arange(first_row, first_row + k), pa.int64()),
                     "key": pc.cast(keys, pa.string()),
                     "kind": pa.array(list(kinds), pa.string())}, schema=PLANTED_SCHEMA)


def missing_key_rows(rng, m: dict, table: pa.Table, name: str, key: str, column: str,
                     first_row: int) -> tuple[pa.Table, pa.Table]:
    """Copies with ``column`` set to null; their own key gets an "X" so it stays unique.

    ``first_row`` is where the copies will start in the written file's chunk.
    """
    rows, k = _sample(rng, table, float(m["bad_row_share"]), 1)
    if key != column:
        rows = rows.set_column(rows.schema.get_field_index(key), key,
                               pc.binary_join_element_wise(rows[key], "X", ""))
    keys = rows[key] if key != column else pa.nulls(k, pa.string())
    rows = rows.set_column(rows.schema.get_field_index(column), column,
                           pa.nulls(k, rows.schema.field(column).type))
    return rows, planted(name, first_row, keys.combine_chunks()
                         if isinstance(keys, pa.ChunkedArray) else keys, ["missing_key"] * k)


def orders_as_strings(orders: pa.Table) -> pa.Table:
    """Every column as text, timestamps as ISO-8601 'Z', as a CSV export would hold them."""
    ts = pc.strftime(orders["order_ts"].cast(pa.timestamp("s", tz="UTC")),
                     format="%Y-%m-%dT%H:%M:%SZ")
    cols = {name: pc.cast(orders[name], pa.string()) for name in orders.column_names}
    cols["order_ts"] = ts
    return pa.table(cols)


def bad_order_rows(rng, m: dict, orders: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Bad copies of orders (string table), one of each kind in turn."""
    rows, k = _sample(rng, orders, float(m["bad_row_share"]), len(BAD_ORDER_KINDS))
    kind = np.arange(k) % len(BAD_ORDER_KINDS)
    new_id = pc.binary_join_element_wise(rows["order_id"], "X", "")
    is_kind = {name: pa.array(kind == i) for i, name in enumerate(BAD_ORDER_KINDS)}
    null = pa.scalar(None, pa.string())
    order_id = pc.if_else(is_kind["missing_key"], null, new_id)
    dates = pa.array(m["bad_dates"], pa.string()).take(
        pa.array((rng.random(k) * len(m["bad_dates"])).astype(np.int64)))
    qty = pa.array((-1 - (rng.random(k) * 3).astype(np.int64)).astype(str), pa.string())
    cur = pa.array(m["unknown_currencies"], pa.string()).take(
        pa.array((rng.random(k) * len(m["unknown_currencies"])).astype(np.int64)))
    replace = {"order_id": order_id,
               "order_ts": pc.if_else(is_kind["bad_date"], dates, rows["order_ts"]),
               "quantity": pc.if_else(is_kind["negative_quantity"], qty, rows["quantity"]),
               "currency": pc.if_else(is_kind["unknown_currency"], cur, rows["currency"])}
    for name, values in replace.items():
        rows = rows.set_column(rows.schema.get_field_index(name), name, values)
    kinds = [BAD_ORDER_KINDS[i] for i in kind]
    return rows, planted("orders", orders.num_rows, order_id, kinds)
