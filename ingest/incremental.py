"""Watermarks: where each incremental source's last committed load ended.

A source with a ``cursor`` (sources.yaml) is read, after its first load, only from its
watermark on: rows whose cursor column is at or past the largest value committed (``>=``:
rows written in the same instant as the last one read are read again and merged by key,
which changes nothing, rather than skipped), or files past the last one loaded (by name,
or by modification time). The watermarks live in the canonical folder
(``_incremental/watermarks.json``) and are written by the same journalled commit as the
tables (segflow.ingest.output), so the tables and the watermark always describe the same
load: a load killed before its commit leaves the previous watermark, and the next run reads
the same rows again; one killed during the commit is rolled forward with its watermark.

A file source without a cursor (a reference table, a billing export replaced now and then)
is read whole, but an incremental load skips it when nothing it was checked with has
changed since the last load read it (``sources_read.json``: its files' names, sizes and
modification times, its sources.yaml entry, its contract, the FX rates) and that load
quarantined none of its rows as orphans (an orphan's customer or account may have arrived
since; only a new read would accept it). A table whose rows a load leaves be is, like the
rows an incremental source does not re-read, not judged again against a later as-of.

A watermark applies only to the source it was taken from (kind, location, cursor, key and
tombstone): one whose source changed, or whose canonical table is gone, makes the whole
ingest a full rebuild, as does ``segflow ingest --full``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

from segflow.ingest.connectors import Since, source_label
from segflow.ingest.sources import Sources, SourceSpec
from segflow.settings import Settings

FOLDER = "_incremental"             # in the canonical folder: what incremental loads keep
WATERMARKS = "watermarks.json"
SOURCES_READ = "sources_read.json"  # what each whole-read file source was checked with
MERGED_CUSTOMERS = "customers_merged.parquet"   # accepted customers folded into a survivor


class NeedsFullLoad(Exception):  # noqa: N818 (a signal, not an error a user sees)
    """An incremental load cannot give what a full rebuild would (a merge of customers
    came apart, a deleted row is still referred to); the ingest is redone in full."""


def state_path(settings: Settings, name: str) -> Path:
    return settings.canonical_dir / FOLDER / name


def identity(spec: SourceSpec) -> dict:
    """What a watermark belongs to: a change to any of it voids the watermark."""
    return {"kind": spec.kind, "source": source_label(spec),
            "cursor": spec.cursor_column or f"files:{spec.cursor_files}",
            "key": list(spec.key), "tombstone": spec.tombstone}


def read_watermarks(settings: Settings) -> dict:
    path = state_path(settings, WATERMARKS)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def usable_marks(sources: Sources, settings: Settings,
                 only: str | None = None) -> tuple[dict | None, str]:
    """{table: watermark} for an incremental load, or (None, why) when this ingest must
    read everything: no source has a cursor, or some watermark is missing or stale.
    ``only`` (a scheduled load of one source) asks about that source alone, and needs
    every other table as the last load left it."""
    specs = [s for s in sources.specs if s.incremental and only in (None, s.table)]
    if not specs:
        return None, (f"{only} declares no cursor" if only else "no source declares a cursor")
    if only is not None:
        gone = [s.table for s in sources.specs
                if not (settings.canonical_dir / f"{s.table}.parquet").exists()]
        if gone:
            return None, f"canonical {', '.join(gone)} missing"
    fed = {s.derived_from for s in sources.specs if s.derived_from}
    if fed & {s.table for s in specs}:
        return None, "a derived source reads an incremental one"
    marks = read_watermarks(settings)
    for spec in specs:
        mark = marks.get(spec.table)
        if mark is None:
            return None, f"first load of {spec.table} by its cursor"
        if mark.get("identity") != identity(spec):
            return None, (f"{spec.table}'s source, cursor, key or tombstone changed since "
                          "its watermark was taken")
        if not (settings.canonical_dir / f"{spec.table}.parquet").exists():
            return None, f"canonical {spec.table} is missing"
    if "customers" in {s.table for s in specs} and \
            not state_path(settings, MERGED_CUSTOMERS).exists():
        return None, "the merged customers of the last load are missing"
    return {s.table: marks[s.table] for s in specs}, ""


def since(spec: SourceSpec, mark: dict | None) -> Since | None:
    """The filter of a column cursor's incremental read (None: read everything)."""
    if mark is None or spec.cursor_column is None or mark.get("value") is None:
        return None
    return Since(spec.cursor_column, mark["value"], mark["type"])


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


def new_files(spec: SourceSpec, mark: dict | None) -> SourceSpec:
    """The source narrowed to the files past the watermark (all of them without one)."""
    if mark is None or spec.cursor_files is None:
        return spec
    if spec.cursor_files == "name":
        files = tuple(f for f in spec.files if str(f) > mark["last"])
    else:
        seen = set(mark["at_last"])
        files = tuple(f for f in spec.files if _mtime(f) > mark["last"] or
                      (_mtime(f) == mark["last"] and str(f) not in seen))
    return replace(spec, files=files)


def next_mark(con, spec: SourceSpec, view: str | None, mark: dict | None) -> dict:
    """The watermark after this load: the largest cursor value read (files: the last file),
    or the previous one when nothing was read."""
    out = {"identity": identity(spec)}
    if spec.cursor_files is not None:
        if not spec.files:
            return {**(mark or {}), **out}
        if spec.cursor_files == "name":
            return {**out, "last": str(max(spec.files, key=str))}
        last = max(_mtime(f) for f in spec.files)
        at_last = sorted(str(f) for f in spec.files if _mtime(f) == last)
        if mark is not None and mark.get("last") == last:
            at_last = sorted(set(at_last) | set(mark["at_last"]))
        return {**out, "last": last, "at_last": at_last}
    if spec.kind == "rest":   # the API's own cursor (connectors._read_rest), not max(column)
        value = con.execute(f"SELECT value FROM {view}_cursor").fetchall()[0][0]
        if value is None:
            return {**(mark or {"value": None, "type": None}), **out}
        return {**out, "value": value, "type": "TIMESTAMPTZ"}
    column = '"' + spec.cursor_column.replace('"', '""') + '"'
    value, kind = con.execute(f"SELECT CAST(max({column}) AS VARCHAR), "
                              f"typeof(max({column})) FROM {view}").fetchall()[0]
    if value is None:
        return {**(mark or {"value": None, "type": None}), **out}
    return {**out, "value": value, "type": kind}


def read_state(settings: Settings, name: str) -> dict:
    path = state_path(settings, name)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _digest(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def files_read(spec: SourceSpec, contract, fx: dict, orphans: int = 0) -> dict | None:
    """What a whole read of a file source without a cursor was checked with (None: not a
    file source, or one with a cursor, so always read as its cursor says)."""
    if spec.incremental or spec.derived_from is not None or not spec.files:
        return None
    files = [[str(f), f.stat().st_size, _mtime(f)] for f in spec.files]
    return {"files": files, "config": _digest(spec, contract, sorted(fx.items())),
            "orphans": orphans}


def unchanged_since(spec: SourceSpec, contract, fx: dict, last: dict | None) -> bool:
    """Whether an incremental load may leave this source's table as the last load left it:
    the same files, configuration and contract, and no orphans quarantined then."""
    now = files_read(spec, contract, fx)
    return (now is not None and last is not None and last.get("orphans") == 0
            and last.get("files") == now["files"] and last.get("config") == now["config"])
