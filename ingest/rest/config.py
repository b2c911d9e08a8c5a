"""The keys of a ``kind: rest`` source, read strictly: a mistake names sources.yaml's line.

Secrets never live in sources.yaml. Auth names the environment variables that hold them
(``token_env``, ``client_secret_env``); a token, secret or password written inline is
refused with the line and what to write instead, and so is a query parameter that looks
like a key (``api_key: abc``) unless its value is ``${VARIABLE}``. A variable that is not
set is an error naming it, before any request is sent.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from segflow.errors import ConfigError
from segflow.ingest.rest import salesforce
from segflow.timeutil import utc_millis
from segflow.yamlio import LineDict

KEYS = {"preset", "base_url", "endpoint", "params", "records", "fields", "id", "modified",
        "deleted", "auth", "paging", "limits"} | salesforce.KEYS
PRESETS = ("salesforce",)
SINCE = "{since}"
_ENV = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_SECRETISH = re.compile(r"token|secret|password|passwd|api[_-]?key|apikey|signature", re.I)
AUTH_KEYS = {"bearer": {"type", "token_env"},
             "oauth2": {"type", "token_url", "client_id", "client_id_env", "client_secret_env",
                        "scope"}}
INLINE_SECRETS = {"token", "access_token", "client_secret", "password", "secret", "api_key"}
PAGING_KEYS = {"next_url": {"type", "next", "done"},
               "cursor": {"type", "next", "param", "done"},
               "offset": {"type", "param", "limit_param", "size"}}


@dataclass(frozen=True)
class Auth:
    """How requests prove who sends them; only variable names, never the secrets."""

    kind: str = "none"                    # none | bearer | oauth2 (client credentials)
    token_env: str | None = None          # bearer: the variable holding the token
    token_url: str | None = None          # oauth2: the token endpoint
    client_id: str | None = None          # oauth2: the client id as written ...
    client_id_env: str | None = None      # ... or the variable holding it
    client_secret_env: str | None = None  # oauth2: the variable holding the client secret
    scope: str | None = None


@dataclass(frozen=True)
class Paging:
    """How the next page is asked for."""

    kind: str = "none"            # none | next_url | cursor | offset
    next: str | None = None       # next_url: path of the next page's URL; cursor: of the token
    param: str | None = None      # cursor: query parameter carrying it; offset: the offset's
    limit_param: str | None = None  # offset: the page-size parameter
    size: int = 100               # offset: records per page
    done: str | None = None       # path of a "this is the last page" flag, when the API has one


@dataclass(frozen=True)
class Limits:
    """Bounds on one run: requests, retries, waits. Seconds throughout."""

    budget: int = 1000        # requests one run may send (token requests and retries count)
    retries: int = 5          # re-tries of one request after a 429, a 5xx or a timeout
    timeout: float = 30.0     # per request
    backoff: float = 0.5      # first back-off after a 5xx or timeout; doubles, with jitter
    max_wait: float = 60.0    # the longest single wait: back-off cap, and the longest
    #                           Retry-After honoured (a longer one stops the run)


@dataclass(frozen=True)
class RestConfig:
    """One REST source: where its records are and how to page, authenticate and pace."""

    base_url: str
    endpoint: str
    params: tuple[tuple[str, str], ...] = ()   # query parameters as written
    records: str | None = None    # path of the records list in a page (None: the page is one)
    fields: tuple[tuple[str, str], ...] = ()   # (column, path in a record); () = every field
    id: str = "id"                # path of the record id
    modified: str | None = None   # path of the modification time (the cursor)
    deleted: str | None = None    # path of the deleted flag (tombstone)
    auth: Auth = Auth()
    paging: Paging = Paging()
    limits: Limits = Limits()
    soql: salesforce.Soql | None = None   # the salesforce preset's query

    def params_for(self, since: datetime | None) -> dict[str, str]:
        """The query parameters of the first request: ``{since}`` filled with the cursor
        (a parameter that uses it is left out of a full sync), ``${VAR}`` from the
        environment, the preset's SOQL in ``q``."""
        out = {}
        for name, value in self.params:
            if SINCE in value:
                if since is None:
                    continue
                value = value.replace(SINCE, utc_millis(since))
            env = _ENV.match(value)
            out[name] = os.environ[env.group(1)] if env else value
        if self.soql is not None:
            out["q"] = self.soql.query(since)
        return out

    def url(self, path_or_url: str) -> str:
        """An absolute URL for an endpoint or a next-page link (relative ones are the API's)."""
        if urlsplit(path_or_url).scheme:
            return path_or_url
        return self.base_url.rstrip("/") + "/" + path_or_url.lstrip("/")


def _err(file: Path, where, key: str, table: str, problem: str) -> ConfigError:
    return ConfigError(file, where.line(key) if isinstance(where, LineDict) else None,
                       f"'{table}': {problem}")


def _text(file, spec, key, table, required=False) -> str | None:
    value = spec.get(key)
    if value is None:
        if required:
            raise _err(file, spec, key, table, f"a rest source needs '{key}'")
        return None
    if isinstance(value, dict | list | bool):
        raise _err(file, spec, key, table, f"{key} must be one text value, not {value!r}")
    return str(value)


def _path(file, spec, key, table, required=False) -> str | None:
    """A JSON path: field names joined by dots (``data.items``, ``Account.Name``)."""
    value = _text(file, spec, key, table, required)
    if value is not None and not all(value.split(".")):
        raise _err(file, spec, key, table, f"{key} is a path of field names joined by dots "
                   f"(meta.next, Account.Name), not {value!r}")
    return value


def _env_name(file, block, key, table) -> str | None:
    """A variable named by ``*_env``; it must be set (the value is read when fetching)."""
    name = _text(file, block, key, table)
    if name is None:
        return None
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise _err(file, block, key, table, f"{key} names an environment variable "
                   f"(CRM_TOKEN), not {name!r}")
    if name not in os.environ:
        raise _err(file, block, key, table, f"{key} names the environment variable {name}, "
                   "which is not set")
    return name


def _block(file, spec, key, table, allowed_by_type: dict[str, set[str]],
           required_by_type: dict[str, tuple[str, ...]]) -> LineDict | None:
    """``auth:`` or ``paging:``: a mapping whose ``type`` decides which keys it takes and
    needs; a secret written into it is refused before anything else is said about it."""
    block = spec.get(key)
    if block is None:
        return None
    if not isinstance(block, LineDict) or "type" not in block:
        raise _err(file, spec, key, table, f"{key} is a mapping with a 'type' "
                   f"({' | '.join(allowed_by_type)})")
    kind = block["type"]
    if kind not in allowed_by_type:
        raise _err(file, block, "type", table, f"{key} type must be one of "
                   f"{sorted(allowed_by_type)}, not {kind!r}")
    for name in block:
        if name in INLINE_SECRETS:
            raise _err(file, block, name, table, f"{key}.{name} holds a secret written into "
                       f"sources.yaml; write {name.removeprefix('access_')}_env: "
                       "SOME_VARIABLE instead and set that variable in the environment "
                       "(secrets never live in sources.yaml)")
    unknown = sorted(set(block) - allowed_by_type[kind])
    if unknown:
        raise _err(file, block, unknown[0], table, f"unknown key '{unknown[0]}' in {key} "
                   f"of type {kind}; allowed: {sorted(allowed_by_type[kind])}")
    for name in required_by_type[kind]:
        if name not in block:
            raise _err(file, block, "type", table, f"{kind} {key} needs '{name}'")
    return block


def _auth(file, spec, table) -> Auth:
    block = _block(file, spec, "auth", table, AUTH_KEYS,
                   {"bearer": ("token_env",), "oauth2": ("token_url", "client_secret_env")})
    if block is None:
        return Auth()
    if block["type"] == "bearer":
        return Auth("bearer", token_env=_env_name(file, block, "token_env", table))
    if ("client_id" in block) == ("client_id_env" in block):
        raise _err(file, block, "type", table, "oauth2 auth needs one of client_id or "
                   "client_id_env")
    return Auth("oauth2", token_url=_text(file, block, "token_url", table),
                client_id=_text(file, block, "client_id", table),
                client_id_env=_env_name(file, block, "client_id_env", table),
                client_secret_env=_env_name(file, block, "client_secret_env", table),
                scope=_text(file, block, "scope", table))


AT_LEAST_ONE = ("budget", "size")   # limits and paging keys that cannot be 0
ABOVE_ZERO = ("timeout",)


def _positive(file, block, key, table, default, integer=False):
    value = block.get(key, default)
    kind = int if integer else int | float
    least = " of at least 1" if key in AT_LEAST_ONE else " above 0" if key in ABOVE_ZERO \
        else " of 0 or more"
    if isinstance(value, bool) or not isinstance(value, kind) or value < 0 or \
            (key in AT_LEAST_ONE and value < 1) or (key in ABOVE_ZERO and value == 0):
        raise _err(file, block, key, table, f"{key} must be a {'whole ' if integer else ''}"
                   f"number{least}, not {value!r}")
    return value


def _paging(file, spec, table) -> Paging:
    block = _block(file, spec, "paging", table, PAGING_KEYS,
                   {"next_url": ("next",), "cursor": ("next", "param"), "offset": ("param",)})
    if block is None:
        return Paging()
    return Paging(block["type"], next=_path(file, block, "next", table),
                  param=_text(file, block, "param", table),
                  limit_param=_text(file, block, "limit_param", table),
                  size=_positive(file, block, "size", table, Paging.size, integer=True),
                  done=_path(file, block, "done", table))


def _limits(file, spec, table) -> Limits:
    block = spec.get("limits") or LineDict()
    if not isinstance(block, LineDict):
        raise _err(file, spec, "limits", table, "limits is a mapping (budget, retries, "
                   "timeout, backoff, max_wait)")
    unknown = sorted(set(block) - set(Limits.__dataclass_fields__))
    if unknown:
        raise _err(file, block, unknown[0], table, f"unknown key '{unknown[0]}' in limits; "
                   f"allowed: {sorted(Limits.__dataclass_fields__)}")
    return Limits(**{k: _positive(file, block, k, table, getattr(Limits, k),
                                  integer=k in ("budget", "retries"))
                     for k in Limits.__dataclass_fields__})


def _params(file, spec, table, modified) -> tuple[tuple[str, str], ...]:
    given = spec.get("params") or LineDict()
    if not isinstance(given, LineDict):
        raise _err(file, spec, "params", table, "params is a mapping of query parameter: "
                   "value")
    out = []
    for name, value in given.items():
        if isinstance(value, dict | list) or value is None:
            raise _err(file, given, name, table, f"params.{name} must be one value")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        env = _ENV.match(text)
        if _SECRETISH.search(str(name)) and not env:
            raise _err(file, given, name, table, f"params.{name} looks like a secret written "
                       "into sources.yaml; write ${SOME_VARIABLE} as its value and set that "
                       "variable in the environment (secrets never live in sources.yaml)")
        if env:
            _env_name(file, LineDict({name: env.group(1)}, ), name, table)
        if SINCE in text and modified is None:
            raise _err(file, given, name, table, f"params.{name} uses {SINCE}, which needs "
                       "'modified': the path of each record's modification time")
        out.append((str(name), text))
    return tuple(out)


def _fields(file, spec, table) -> tuple[tuple[str, str], ...]:
    given = spec.get("fields") or LineDict()
    if not isinstance(given, LineDict):
        raise _err(file, spec, "fields", table, "fields is a mapping of column: path in a "
                   "record (email: Email, city: address.city)")
    for column in given:
        _path(file, given, column, table, required=True)
    return tuple((str(c), str(p)) for c, p in given.items())


def _base_url(file, spec, table) -> str:
    url = _text(file, spec, "base_url", table, required=True)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _err(file, spec, "base_url", table, f"base_url is an http(s) URL "
                   f"(https://api.example.com), not {url!r}")
    if parts.password:
        raise _err(file, spec, "base_url", table, "base_url holds a password; use auth: "
                   "with a variable from the environment (secrets never live in "
                   "sources.yaml)")
    return url


def _salesforce(file, spec, table, fields) -> tuple[salesforce.Soql, str]:
    obj = _text(file, spec, "object", table, required=True)
    for what, name in [("object", obj), *(("fields", p) for _, p in fields)]:
        if not salesforce.NAME.match(name):
            raise _err(file, spec, what, table, f"{name!r} is not a Salesforce "
                       f"{'object' if what == 'object' else 'field path'} name")
    if not fields:
        raise _err(file, spec, "preset", table, "the salesforce preset needs 'fields': "
                   "column: Salesforce field (SOQL selects only what it names)")
    for key in ("endpoint", "records", "paging", "id", "modified", "deleted", "params"):
        if key in spec:
            raise _err(file, spec, key, table, f"the salesforce preset sets '{key}' itself; "
                       "remove it")
    version = _text(file, spec, "api_version", table) or salesforce.API_VERSION
    if not salesforce.VERSION.match(version):
        raise _err(file, spec, "api_version", table, f"api_version is like v60.0, not "
                   f"{version!r}")
    deleted = spec.get("include_deleted", True)
    if not isinstance(deleted, bool):
        raise _err(file, spec, "include_deleted", table, "include_deleted is true or false")
    soql = salesforce.Soql(obj, tuple(dict.fromkeys(p for _, p in fields)),
                           _text(file, spec, "where", table))
    return soql, salesforce.endpoint(version, deleted)


def parse_rest(file: Path, spec: LineDict, table: str) -> RestConfig:
    """A ``kind: rest`` source's keys (already known to be among ``KEYS``) as a RestConfig."""
    preset = spec.get("preset")
    if preset is not None and preset not in PRESETS:
        raise _err(file, spec, "preset", table, f"preset must be one of {list(PRESETS)}, "
                   f"not {preset!r}")
    if preset is None:
        extra = sorted(set(spec) & salesforce.KEYS)
        if extra:
            raise _err(file, spec, extra[0], table, f"'{extra[0]}' belongs to the salesforce "
                       "preset; add preset: salesforce or remove it")
    fields = _fields(file, spec, table)
    common = dict(base_url=_base_url(file, spec, table), fields=fields,
                  auth=_auth(file, spec, table), limits=_limits(file, spec, table))
    if preset == "salesforce":
        soql, endpoint = _salesforce(file, spec, table, fields)
        return RestConfig(endpoint=endpoint, records=salesforce.RECORDS, id=salesforce.ID,
                          modified=salesforce.MODIFIED, deleted=salesforce.DELETED,
                          paging=Paging("next_url", next=salesforce.NEXT,
                                        done=salesforce.DONE),
                          soql=soql, **common)
    modified = _path(file, spec, "modified", table)
    return RestConfig(endpoint=_text(file, spec, "endpoint", table, required=True),
                      params=_params(file, spec, table, modified),
                      records=_path(file, spec, "records", table),
                      id=_path(file, spec, "id", table) or "id", modified=modified,
                      deleted=_path(file, spec, "deleted", table),
                      paging=_paging(file, spec, table), **common)
