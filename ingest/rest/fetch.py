"""``fetch``: one sync of a REST source into an Arrow table, pure of any workspace.

It reads every page the API gives for the query (``since``: only records modified after
it), and returns the records, the new cursor, the number of requests and the ids of
deleted records. Ingest calls it with ``since=None`` (everything); an incremental load
passes the cursor it committed last, and commits the returned one with the data.

Columnar: each page's list of dicts becomes one Arrow struct array in one call (pyarrow
infers the types over the whole page), nested objects are flattened to dotted columns
(``Account.Name``), and the fields are picked by path; no Python work per value. Pages
whose types disagree (a field that is a number on one page and text on another) are joined
with that column as text, which the contract then types like a CSV's column.

No loss, no duplicate: a record served twice in one run (an API re-serving a record
modified while the run pages, or offset paging shifting under an insert) is kept once, in
its latest version (latest modification, else last served). The new cursor is the latest
modification seen, but never later than the API's own clock when it began the run's query
(the first answer's ``Date`` header less the time that request took, less a second): a
record modified during the run, after its page was served or outside the query's
snapshot, has a later stamp than that, so the next run fetches it, even when another
record modified during the run carried a later stamp into this one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa

from segflow.errors import SchemaChangedError
from segflow.ingest.rest.client import Client, RequestBudgetExceeded
from segflow.ingest.rest.config import RestConfig

TOMBSTONE = "_deleted"          # column of the result: the record is deleted at the source
CLOCK_MARGIN = timedelta(seconds=1)   # slack between the Date header and record stamps
_ID, _MODIFIED, _DELETED, _SEQ = "__rest_id", "__rest_modified", "__rest_deleted", "__rest_seq"


@dataclass(frozen=True)
class FetchResult:
    """What one sync read. ``table`` holds every record once (its latest version), deleted
    ones included with ``_deleted`` true; ``live`` is the rest."""

    table: pa.Table
    cursor: datetime | None      # pass as ``since`` to the next sync; None: no modified path
    requests: int                # sent, including retries and token requests
    pages: int
    deleted_ids: list[str] = field(default_factory=list)
    retried: int = 0             # requests re-tried after a 429, a 5xx or a timeout
    waited: float = 0.0          # seconds spent waiting before those re-tries
    served: int = 0              # records the API served, before keeping one per id

    @property
    def live(self) -> pa.Table:
        """The records not deleted at the source, without the tombstone column."""
        import pyarrow.compute as pc

        return self.table.filter(pc.invert(self.table[TOMBSTONE])).drop_columns([TOMBSTONE])


def at(document, path: str | None):
    """The value at a dotted path of a JSON document (None where a step is missing)."""
    if path is None:
        return document
    for step in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(step)
    return document


def _page_table(records: list, fallback) -> pa.Table:
    """A page's records as a table with nested objects flattened to dotted column names
    (``pa.array`` infers one struct over every record of the page, in C)."""
    try:
        table = pa.Table.from_struct_array(pa.array(records))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        table = fallback(records)
    while any(pa.types.is_struct(t) for t in table.schema.types):
        table = table.flatten()
    return table


def _mixed_page(records: list) -> pa.Table:
    """A page whose values disagree in type within one field: column by column, a column
    that cannot be one type becomes text (rare; costs a pass over that page in Python)."""
    from segflow.ingest.connectors import column_to_arrow

    keys = dict.fromkeys(k for r in records if isinstance(r, dict) for k in r)
    return pa.table({k: column_to_arrow([r.get(k) if isinstance(r, dict) else None
                                         for r in records]) for k in keys})


def _pick(table: pa.Table, config: RestConfig) -> pa.Table:
    """The page's columns as named by ``fields`` (or all), plus the id, modification time
    and deleted flag under internal names; a path this page lacks is a null column."""
    def column(path):
        return table[path] if path in table.column_names else pa.nulls(len(table))

    picked = ({c: column(p) for c, p in config.fields} if config.fields
              else dict(zip(table.column_names, table.columns, strict=True)))
    picked[_ID] = column(config.id)
    picked[_MODIFIED] = column(config.modified) if config.modified else pa.nulls(len(table))
    picked[_DELETED] = column(config.deleted) if config.deleted else pa.nulls(len(table))
    return pa.table(picked)


def _combine(pages: list[pa.Table]) -> pa.Table:
    """One table from the pages; a column typed differently on different pages is text."""
    import pyarrow.compute as pc

    try:
        return pa.concat_tables(pages, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    types: dict[str, set] = {}
    for page in pages:
        for name, kind in zip(page.column_names, page.schema.types, strict=True):
            if not pa.types.is_null(kind):
                types.setdefault(name, set()).add(kind)
    mixed = {n for n, ts in types.items() if len(ts) > 1}
    pages = [p.from_arrays([pc.cast(c, pa.string()) if n in mixed else c
                            for n, c in zip(p.column_names, p.columns, strict=True)],
                           names=p.column_names) for p in pages]
    return pa.concat_tables(pages, promote_options="permissive")


def _missing_paths(config: RestConfig, seen: set[str]) -> list[str]:
    """Paths sources.yaml names (fields, id, modified, deleted) that no record had."""
    wanted = [p for _, p in config.fields] + [config.id]
    wanted += [p for p in (config.modified, config.deleted) if p]
    return [p for p in dict.fromkeys(wanted) if p not in seen]


def _latest(table: pa.Table, config: RestConfig, label: str) -> tuple[pa.Table, datetime | None]:
    """One row per id (its latest version), in the order served, and the latest
    modification time; the tombstone column is true where the record is deleted."""
    import duckdb
    import pyarrow.compute as pc

    with duckdb.connect() as con:
        con.register("fetched", table)
        modified = f"TRY_CAST(CAST({_MODIFIED} AS VARCHAR) AS TIMESTAMPTZ)"
        if config.modified:
            bad = con.execute(f"SELECT count(*), any_value({_MODIFIED}) FROM fetched WHERE "
                              f"{_MODIFIED} IS NOT NULL AND {modified} IS NULL").fetchall()[0]
            if bad[0]:
                raise SchemaChangedError(f"{label}: modified ('{config.modified}') is not an "
                                         f"ISO 8601 time in {bad[0]:,} records (e.g. "
                                         f"{bad[1]!r})")
        key = f"coalesce(CAST({_ID} AS VARCHAR), 'no id ' || {_SEQ})"
        deleted = (f"coalesce(TRY_CAST({_DELETED} AS BOOLEAN), false)" if config.deleted
                   else "false")
        kept = con.sql(f"""
            SELECT * EXCLUDE ({_ID}, {_MODIFIED}, {_DELETED}, {_SEQ}), {deleted} AS {TOMBSTONE},
                   CAST({_ID} AS VARCHAR) AS {_ID}, {modified} AS {_MODIFIED}
            FROM fetched
            QUALIFY row_number() OVER (PARTITION BY {key}
                                       ORDER BY {modified} DESC NULLS LAST, {_SEQ} DESC) = 1
            ORDER BY {_SEQ}""").to_arrow_table()
    latest = pc.max(kept[_MODIFIED]).as_py() if config.modified and len(kept) else None
    return kept, latest


def _cursor(latest: datetime | None, since: datetime | None, api_start: datetime | None
            ) -> datetime | None:
    """The next run's ``since``: the latest modification seen, not past the API's clock at
    the start (see the module doc), and never before this run's own ``since``."""
    if latest is not None and api_start is not None:
        latest = min(latest, api_start - CLOCK_MARGIN)
    candidates = [t for t in (latest, since) if t is not None]
    return max(candidates) if candidates else None


def _pages(client: Client, config: RestConfig, since: datetime | None, label: str):
    """Yield each page's list of records, following the source's paging."""
    paging = config.paging
    url, params = config.url(config.endpoint), config.params_for(since)
    if paging.kind == "offset":
        params[paging.param] = 0
        if paging.limit_param:
            params[paging.limit_param] = paging.size
    while True:
        body = client.get_json(url, params)
        records = at(body, config.records)
        if not isinstance(records, list):
            has = sorted(body) if isinstance(body, dict) else type(body).__name__
            raise SchemaChangedError(f"{label}: the response has no list of records at "
                                     f"'{config.records or '(the whole response)'}'; it has: "
                                     f"{has}")
        yield records
        if paging.kind == "none" or (paging.done and at(body, paging.done) is True):
            return
        if paging.kind == "offset":
            if len(records) < paging.size:
                return
            params[paging.param] += len(records)
            continue
        following = at(body, paging.next)
        if not following:
            return
        if paging.kind == "next_url":
            url, params = config.url(str(following)), None
        else:
            params = {**params, paging.param: str(following)}


def fetch(config: RestConfig, since: datetime | None = None, *, label: str = "rest source",
          transport=None, sleep=time.sleep) -> FetchResult:
    """Every record of the source modified after ``since`` (None: every record).

    Raises ``RequestBudgetExceeded`` when the run needs more than ``limits.budget``
    requests, ``ApiRefused`` on a 4xx, ``ApiUnavailable`` when re-tries run out; no partial
    result is ever returned. ``transport`` and ``sleep`` are for embedding (an httpx
    transport; a clock)."""
    client = Client(config, label, transport=transport, sleep=sleep)
    pages, seen, served, count = [], set(), 0, 0
    try:
        for records in _pages(client, config, since, label):
            count += 1
            if not records:
                continue
            table = _page_table(records, _mixed_page)
            seen.update(table.column_names)
            picked = _pick(table, config)
            pages.append(picked.append_column(_SEQ, pa.array(
                range(served, served + len(records)), pa.int64())))
            served += len(records)
    except RequestBudgetExceeded as err:
        read = f" after {count:,} page{'s' * (count != 1)} ({served:,} records)"
        raise RequestBudgetExceeded(str(err).replace(" is spent", " is spent" + read, 1)
                                    ) from None
    finally:
        client.close()
    if not pages:
        empty = pa.table({**{c: pa.array([], pa.string()) for c, _ in config.fields},
                          TOMBSTONE: pa.array([], pa.bool_())})
        return FetchResult(empty, _cursor(None, since, None), client.requests, count,
                           retried=client.retried, waited=client.waited)
    missing = _missing_paths(config, seen)
    if missing:
        raise SchemaChangedError(f"{label}: no record has '{missing[0]}' (a path of fields, "
                                 f"id, modified or deleted); the records have: "
                                 f"{', '.join(sorted(seen)[:30])}")
    kept, latest = _latest(_combine(pages), config, label)
    deleted = kept.filter(kept[TOMBSTONE])[_ID].to_pylist()
    table = kept.drop_columns([_ID, _MODIFIED])
    table = table.from_arrays([c.cast(pa.string()) if pa.types.is_null(c.type) else c
                               for c in table.columns], names=table.column_names)
    return FetchResult(table, _cursor(latest, since, client.api_start), client.requests,
                       count, deleted, client.retried, client.waited, served)
