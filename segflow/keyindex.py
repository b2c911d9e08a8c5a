"""A key index beside each file of an incrementally loaded canonical table, so an
incremental load finds which of its keys the table already holds without reading the
table's key column.

An incremental load must find the old rows of the keys it decides (``ingest.pipeline``'s
``_write_delta``). A join of its keys against the table reads and hashes every key of
every file (at 1M customers, 50M event ids, ~3 CPU s for a load of 1M new events): the one
step of the load that grew with the table. The index makes that lookup grow with the load:
beside each file of the table (the base ``<table>.parquet``, each delta's rows
``_delta/<table>/<seq>.parquet``) lies ``<name>.keyhash``, the file's keys hashed to 64 bits
(DuckDB's ``hash``) and sorted. A load hashes its own keys, looks them up by binary search
in the memory-mapped indexes (reading only the pages the search touches), and joins only
the keys found (a hash match is a candidate, confirmed by the exact join) against the
table; where none is found the join is skipped, since DuckDB never scans the table for an
empty build side.

An index is written by the same staged commit as its file (``StagedWriter``), so a crash
leaves both or neither. It is trusted only for the file it was built from: its header
records that file's size and a hash of its Parquet footer, the key columns' types and the
hash function (DuckDB's version, whose ``hash`` may change between releases). An index that
is missing or records anything else is not used: the caller rebuilds it from the file.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np

MAGIC = b"SEGFLOW-KEYHASH1"   # file: MAGIC, header length (u32), JSON header, pad, hashes
SUFFIX = ".keyhash"


def path_of(data: Path) -> Path:
    """The index of ``data`` (``customers.parquet`` -> ``customers.keyhash``)."""
    data = Path(data)
    return data.with_name(data.name.removesuffix(".parquet") + SUFFIX)


def fingerprint(data: Path) -> str:
    """What identifies a Parquet file without reading its rows: its size and a hash of its
    footer (schema, row groups' offsets, sizes and statistics). Renaming keeps both, so a
    staged file and the committed one have the same fingerprint."""
    with open(data, "rb") as f:
        size = f.seek(0, 2)
        f.seek(size - 8)
        length = int.from_bytes(f.read(4), "little")
        f.seek(size - 8 - length)
        footer = f.read(length)
    return f"{size}:{hashlib.blake2b(footer, digest_size=16).hexdigest()}"


def _hash_tag() -> str:
    import duckdb

    return f"duckdb {duckdb.__version__} hash"


def key_types(con, relation: str, keys: list[str]) -> list[str]:
    """The SQL types of the key columns as DuckDB reads them from ``relation``: both sides
    of a lookup are hashed after a cast to them (a key hashes by its type)."""
    return [str(t) for t in con.sql(f"SELECT {_cols(keys)} FROM {relation} LIMIT 0").types]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cols(keys: list[str]) -> str:
    return ", ".join(_q(k) for k in keys)


def hash_sql(keys: list[str], types: list[str]) -> str:
    """SQL: the 64-bit hash of a row's key, after the cast to the table's key types."""
    cast = ", ".join(f"CAST({_q(k)} AS {t})" for k, t in zip(keys, types, strict=True))
    return f"hash({cast})"


HALF = np.uint64(1 << 63)   # the hashes at or above it fill the index from its end
BATCH_ROWS = 1 << 20        # hashes handed over by DuckDB at a time
SEARCH_BLOCK = 1 << 17      # hashes of an index searched as one block (1 MB: a core's L2)
PAGE_HASHES = 512           # hashes in a 4 KB page of an index


def hashes(con, relation: str, keys: list[str], types: list[str]) -> np.ndarray:
    """The sorted, distinct key hashes of ``relation``'s rows: ``_sorted_into`` an array of
    the relation's row count, which they fill, so that the index is that one array."""
    count = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
    out, low, high = _sorted_into(
        con, f"SELECT {hash_sql(keys, types)} AS h FROM {relation}", count)
    if low != high:   # the relation changed between the count and the scan
        raise RuntimeError(f"key index of {relation}: {count} rows counted, "
                           f"{count - (high - low)} hashed")
    return _unrepeated(out)


def sorted_parts(con, sql: str, most: int) -> tuple[np.ndarray, np.ndarray]:
    """The 64-bit hashes ``sql`` selects (at most ``most``) as two sorted parts, those
    below 2^63 and the others (``_sorted_into``)."""
    out, low, high = _sorted_into(con, sql, most)
    return out[:low], out[high:]


def _sorted_into(con, sql: str, most: int) -> tuple[np.ndarray, int, int]:
    """The hashes ``sql`` selects in an array of ``most`` slots: those below 2^63 in
    ``[:low]``, the others in ``[high:]``, each part sorted (so with ``low == high`` the
    whole array is).

    Why not one fetch and a sort: at 10M customers the engagement events' index is 510M
    hashes (4.1 GB). A whole-result fetch held DuckDB's result and its NumPy copy at once
    (1.35x the array: the full ingest's peak memory), and one sort ran on one core
    (4.8 s of 5.4 for 50M hashes). The hashes are streamed instead, those below 2^63 from
    the array's front and the others from its end, and the two parts are sorted on two
    threads (NumPy releases the GIL to sort)."""
    out = np.empty(most, dtype="<u8")
    low, high = 0, most
    for batch in con.sql(sql).to_arrow_reader(BATCH_ROWS):
        h = batch.column(0).to_numpy()
        top = h >= HALF
        below, above = h[~top], h[top]
        if len(h) > high - low:
            raise RuntimeError(f"more than the {most} hashes counted: {sql}")
        out[low:low + len(below)] = below
        out[high - len(above):high] = above
        low, high = low + len(below), high - len(above)
    _sort_parts(out[:low], out[high:])
    return out, low, high


def repeated(*parts: np.ndarray) -> np.ndarray:
    """The hashes that sorted ``parts`` (``sorted_parts``: no value in two parts) hold
    more than once, once each, sorted."""
    return _unrepeated(np.concatenate([p[1:][p[1:] == p[:-1]] for p in parts]))


def _sort_parts(*parts: np.ndarray) -> None:
    """Sort each of ``parts`` in place, each on a thread of its own."""
    _each_on_a_thread(np.ndarray.sort, parts)


def _each_on_a_thread(work, items) -> None:
    """``work(item)`` for each of ``items``, each on a thread of its own: NumPy releases
    the GIL to sort and to search, so two items use both cores."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(items), thread_name_prefix="segflow-keyindex") as pool:
        list(pool.map(work, items))


def distinct(h: np.ndarray) -> np.ndarray:
    """``h`` sorted in place, repeats dropped: a sort and a neighbour comparison, not
    ``np.unique`` (hash-based in NumPy 2.4: 8.5 CPU s for 5M hashes against 0.05 s to sort
    them)."""
    h.sort()
    return _unrepeated(h)


def _unrepeated(h: np.ndarray) -> np.ndarray:
    """Sorted ``h`` with repeats dropped. A table's keys are distinct, so ``h`` itself is
    returned, not a copy (at 50M keys a copy is 400 MB more peak memory for the full ingest
    that writes the index)."""
    repeat = h[1:] == h[:-1]
    return h[np.concatenate(([True], ~repeat))] if repeat.any() else h


def encode(data: Path, keys: list[str], types: list[str], sorted_hashes: np.ndarray):
    """The index file's parts (header, then the hashes as they lie in memory, not copied)."""
    header = json.dumps({"file": fingerprint(data), "keys": keys, "types": types,
                         "hash": _hash_tag(), "count": int(len(sorted_hashes))}).encode()
    head = MAGIC + struct.pack("<I", len(header)) + header
    return [head + b"\0" * (-len(head) % 8), memoryview(np.ascontiguousarray(sorted_hashes))]


def load(data: Path, keys: list[str], types: list[str]) -> np.ndarray | None:
    """The sorted key hashes of ``data``, memory-mapped; None when its index is missing,
    unreadable, or not of this file, these key types and this hash function (stale)."""
    index = path_of(data)
    try:
        with open(index, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                return None
            (length,) = struct.unpack("<I", f.read(4))
            header = json.loads(f.read(length))
    except (OSError, ValueError, struct.error):
        return None
    want = {"file": fingerprint(data), "keys": list(keys), "types": list(types),
            "hash": _hash_tag()}
    if any(header.get(k) != v for k, v in want.items()):
        return None
    start = len(MAGIC) + 4 + length
    start += -start % 8
    count = header.get("count")
    if not isinstance(count, int) or index.stat().st_size != start + 8 * count:
        return None
    if count == 0:
        return np.zeros(0, dtype="<u8")
    return np.memmap(index, dtype="<u8", mode="r", offset=start, shape=(count,))


def found(index: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Which of ``queries`` (hashes) ``index`` (sorted hashes) holds: a binary search each,
    so the cost grows with the queries and the log of the index.

    Searched block by block (``_found_in_blocks``) when the queries are sorted, as a load's
    key hashes are (``hashes``); unsorted queries are sorted for the search first."""
    if not len(index) or not len(queries):
        return np.zeros(len(queries), dtype=bool)
    _read_ahead(index, len(queries))
    if (queries[1:] < queries[:-1]).any():
        order = np.argsort(queries, kind="stable")
        out = np.empty(len(queries), dtype=bool)
        out[order] = _found_in_blocks(index, queries[order])
        return out
    return _found_in_blocks(index, queries)


def _read_ahead(index: np.ndarray, queries: int) -> None:
    """Ask the OS to read a memory-mapped ``index`` from disk ahead of the search, when
    there are enough ``queries`` to touch most of its pages (one per page, on average).

    Why: the search reads an index not in memory one page fault at a time, 4 KB each. An
    hourly load at 10M customers searches 10M event ids in 510M (a 4 GB index, out of
    memory after an hour of other work): 4.5 s by page faults, 1.6 s with the file read
    ahead. A small load touches few pages and is left to fault them in."""
    import os

    if (isinstance(index, np.memmap) and hasattr(os, "posix_fadvise")
            and queries * PAGE_HASHES >= len(index)):
        fd = os.open(index.filename, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, index.offset, index.nbytes, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)


def _found_in_blocks(index: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``found`` for sorted ``queries``: each searched in the block of ``SEARCH_BLOCK``
    hashes of ``index`` that can hold it, the first half of the blocks on one thread and
    the second on another (NumPy releases the GIL to search), each reading its blocks in
    order, so that a memory-mapped index is read from disk ahead of the search.

    Why: one search of the whole index misses the CPU's caches at nearly every step, since
    successive queries land far apart in a 4 GB index (10M event ids of an hourly load
    among 510M at 10M customers: 2.4 s). Within a block of 1 MB the later steps stay in
    cache: 1.1 s on one core, about half on two. The Python loop is over the index's
    blocks (its size / 131,072), never over keys. Where a block's queries begin is read
    from its first hash as the block comes up, not gathered from every block beforehand:
    that gather read 3,900 scattered pages of an index not yet in memory (3.5 s)."""
    starts = list(range(0, len(index), SEARCH_BLOCK))
    out = np.empty(len(queries), dtype=bool)

    def first(i: int) -> int:
        """Where the queries of block ``i`` begin: at its first hash (the ends: all)."""
        if i == 0:
            return 0
        if i == len(starts):
            return len(queries)
        return int(np.searchsorted(queries, index[starts[i]]))

    def search(blocks: range) -> None:
        a = first(blocks.start)
        for i in blocks:
            b = first(i + 1)
            if a < b:
                block = index[starts[i]:starts[i] + SEARCH_BLOCK]
                pos = np.minimum(np.searchsorted(block, queries[a:b]), len(block) - 1)
                out[a:b] = block[pos] == queries[a:b]
            a = b

    middle = len(starts) // 2
    _each_on_a_thread(search, [range(0, middle), range(middle, len(starts))])
    return out
