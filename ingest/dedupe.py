"""Merging duplicate customers: same normalised email or same E.164 phone = same person.

Matching is transitive (A shares an email with B, B a phone with C: one person), so the
groups are the connected components of the graph whose edges are shared emails and phones.
They are found by vectorised label propagation: every row starts with its own position in
signup order, takes the smallest label of each email group and phone group it is in, and
jumps to its label's label, until nothing changes. A chain of k duplicates settles in
O(log k) rounds of whole-column NumPy work, so 10M customers take seconds, not a Python loop.
The smallest position is the earliest signup, which is therefore the survivor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def _group_min(codes: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Each row's label lowered to the smallest label of its group (code -1 = no group)."""
    has = codes >= 0
    if not has.any():
        return label
    smallest = np.full(int(codes.max()) + 1, len(label), dtype=label.dtype)
    np.minimum.at(smallest, codes[has], label[has])
    out = label.copy()
    out[has] = np.minimum(label[has], smallest[codes[has]])
    return out


def component_labels(*keys: np.ndarray) -> np.ndarray:
    """Position of the first row (the component's minimum) connected to each row by any key.

    Each key is an int array of group codes (-1 where the row has no value).
    """
    n = len(keys[0]) if keys else 0
    label = np.arange(n, dtype=np.int64)
    while True:
        new = label
        for codes in keys:
            new = _group_min(codes, new)
        new = new[new]
        while not np.array_equal(new, new[new]):
            new = new[new]
        if np.array_equal(new, label):
            return label
        label = new


def _matched_on(email: np.ndarray, phone: np.ndarray, survivor: np.ndarray) -> np.ndarray:
    same_email = (email >= 0) & (email == email[survivor])
    same_phone = (phone >= 0) & (phone == phone[survivor])
    return np.select([same_email & same_phone, same_email, same_phone],
                     ["email+phone", "email", "phone"], default="transitive")


def find_duplicates(customers: pa.Table) -> pa.Table:
    """Merge map (merged_id, survivor_id, matched_on) of a customers table.

    Needs customer_id, signup_ts, email, phone (already normalised). Ties on signup time go
    to the smaller customer id, so the survivor does not depend on row order.
    """
    frame = customers.select(["customer_id", "signup_ts", "email", "phone"]).to_pandas()
    frame = frame.sort_values(["signup_ts", "customer_id"], kind="stable", na_position="last")
    email = pd.factorize(frame["email"])[0]
    phone = pd.factorize(frame["phone"])[0]
    survivor = component_labels(email, phone)
    merged = np.flatnonzero(survivor != np.arange(len(frame)))
    ids = frame["customer_id"].to_numpy(dtype=object)
    return pa.table({
        "merged_id": pa.array(ids[merged], pa.string()),
        "survivor_id": pa.array(ids[survivor[merged]], pa.string()),
        "matched_on": pa.array(_matched_on(email, phone, survivor)[merged], pa.string()),
    })


def touched_duplicates(con, new: str, decided: str, kept: str, old_map: str) -> pa.Table:
    """The merge map after an incremental load, searching only where the load can change it.

    ``new``: SQL of the load's live customers (customer_id, signup_ts, email, phone);
    ``decided``: the keys the load decides (upserted, deleted or withdrawn); ``kept``: the
    customers of the last load it leaves be (survivors and merged ones); ``old_map``: the
    last load's merge map. A group of the last load changes only if one of its members is
    decided again or shares an email or phone with a new row (blocking keys: a group is
    closed under shared identifiers, so one step finds every group that can change). Those
    groups and the new rows are searched together; every other group keeps its map rows,
    which is what a search over every customer would give them.
    """
    grouped = (f"SELECT k.customer_id, k.signup_ts, k.email, k.phone, "
               f"coalesce(m.survivor_id, k.customer_id) AS grp "
               f"FROM ({kept}) k LEFT JOIN ({old_map}) m ON k.customer_id = m.merged_id")
    con.execute(f"""CREATE OR REPLACE TABLE _dedupe_new AS
        SELECT customer_id, signup_ts, email, phone FROM ({new})""")
    # the old customers are read where a filter keeps few of them, never held whole: a
    # table of every kept customer cost 8 s of a 10M-customer hourly load
    con.execute(f"""CREATE OR REPLACE TABLE _dedupe_touched AS
        SELECT grp FROM ({grouped}) WHERE email IN (SELECT email FROM _dedupe_new)
                                       OR phone IN (SELECT phone FROM _dedupe_new)
        UNION SELECT coalesce(m.survivor_id, d.customer_id) FROM ({decided}) d
              LEFT JOIN ({old_map}) m ON d.customer_id = m.merged_id""")
    block = con.sql(f"""
        SELECT customer_id, signup_ts, email, phone FROM ({grouped})
        WHERE grp IN (SELECT grp FROM _dedupe_touched)
        UNION ALL SELECT * FROM _dedupe_new""").to_arrow_table()
    con.register("_dedupe_found", find_duplicates(block))
    merged = con.sql(f"""
        SELECT merged_id, survivor_id, matched_on FROM ({old_map})
        WHERE survivor_id NOT IN (SELECT grp FROM _dedupe_touched)
          AND merged_id IN (SELECT customer_id FROM ({kept}))
        UNION ALL SELECT * FROM _dedupe_found""").to_arrow_table()
    con.unregister("_dedupe_found")
    for name in ("_dedupe_new", "_dedupe_touched"):
        con.execute(f"DROP TABLE {name}")
    return merged
