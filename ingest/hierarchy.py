"""Parent/child account roll-up: every account's top parent and its depth below it.

Pointer jumping (each account's ancestor pointer replaced by its ancestor's, doubling the
distance covered each round) resolves any depth in O(log depth) vectorised rounds. An account
whose pointer never reaches a top account after that is on, or hangs below, a cycle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from segflow.errors import SegflowError


class HierarchyCycleError(SegflowError):
    """Accounts whose parents form a loop: the roll-up has no top to reach."""


def roll_up(account_ids: np.ndarray, parent_ids: np.ndarray) -> pa.Table:
    """(account_id, parent_account_id, top_account_id, depth) for every account.

    ``parent_ids`` holds None for top accounts; a parent must be one of ``account_ids``
    (ingest quarantines orphans before this runs). Depth is 0 for a top account.
    """
    ids = pd.Index(account_ids)
    n = len(ids)
    has_parent = pd.notna(parent_ids)
    parent = np.arange(n, dtype=np.int64)
    parent[has_parent] = ids.get_indexer(parent_ids[has_parent])
    if (parent < 0).any():
        missing = sorted(set(parent_ids[parent < 0]))[:10]
        raise SegflowError(f"account hierarchy: unknown parent accounts {missing}")
    jump, depth = parent.copy(), has_parent.astype(np.int64)
    for _ in range(max(1, int(np.ceil(np.log2(max(n, 2)))) + 1)):
        depth = depth + depth[jump]
        jump = jump[jump]
    stuck = jump != parent[jump]
    if stuck.any():
        on_cycle = sorted(set(ids[jump[stuck]]))
        raise HierarchyCycleError(
            f"account hierarchy has a cycle through {len(on_cycle)} accounts: "
            f"{', '.join(map(str, on_cycle[:10]))}{' ...' if len(on_cycle) > 10 else ''}"
            f" ({int(stuck.sum())} accounts affected)")
    return pa.table({
        "account_id": pa.array(ids.to_numpy(dtype=object), pa.string()),
        "parent_account_id": pa.array(np.where(has_parent, parent_ids, None), pa.string()),
        "top_account_id": pa.array(ids.to_numpy(dtype=object)[jump], pa.string()),
        "depth": pa.array(depth, pa.int32()),
    })
