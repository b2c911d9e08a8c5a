"""The ``salesforce`` preset: SOQL through the REST query endpoint.

What the preset decides, so a project only names the object and its fields:

- the endpoint is ``/services/data/<api_version>/queryAll`` (``include_deleted: false``:
  ``/query``): queryAll also returns deleted records still in the recycle bin, with
  ``IsDeleted`` true, which is how an incremental sync learns of a deletion;
- the query is ``SELECT Id, SystemModstamp, IsDeleted, <fields> FROM <object> [WHERE
  <where>] [AND SystemModstamp > <since>] ORDER BY SystemModstamp``: ``SystemModstamp``
  (changed by every edit, including system ones, unlike ``LastModifiedDate``) is the cursor;
- paging follows ``nextRecordsUrl`` until the response says ``done``;
- ``Id`` is the record's id, ``IsDeleted`` its tombstone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from segflow.timeutil import utc_millis

API_VERSION = "v60.0"
ID, MODIFIED, DELETED = "Id", "SystemModstamp", "IsDeleted"
RECORDS, NEXT, DONE = "records", "nextRecordsUrl", "done"
KEYS = {"object", "where", "api_version", "include_deleted"}   # keys only the preset takes
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
VERSION = re.compile(r"^v\d+\.\d+$")


@dataclass(frozen=True)
class Soql:
    """The parts of the preset's query; the ``since`` condition is added per run."""

    object: str
    fields: tuple[str, ...]      # field paths (``Email``, ``Account.Name``), each once
    where: str | None = None     # the project's own condition, SOQL

    def query(self, since: datetime | None) -> str:
        selected = list(dict.fromkeys((ID, MODIFIED, DELETED, *self.fields)))
        conditions = [f"({self.where})"] if self.where else []
        if since is not None:
            conditions.append(f"{MODIFIED} > {utc_millis(since)}")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return (f"SELECT {', '.join(selected)} FROM {self.object}{where} "
                f"ORDER BY {MODIFIED} ASC")


def endpoint(api_version: str, include_deleted: bool) -> str:
    return f"/services/data/{api_version}/{'queryAll' if include_deleted else 'query'}"
