"""Table contracts: the YAML files in ``ingest/contracts/`` turned into types and checks.

A contract is the promise every later stage relies on (column names, Arrow types, keys,
allowed values, plausible values), so it is data, reviewed like code, and this module only
interprets it.

Plausible values: ``min``/``max`` bound numbers, and for a timestamp column the earliest and
latest date (``min: 2000-01-01``: nothing before the business began); ``max_future: 1 day``
bounds a timestamp by the ingest's as-of time plus a tolerance; ``min_except_when`` waives a
column's ``min`` for rows matching other columns' values (a refunded order may carry a
negative amount); ``timezone`` is the zone of timestamps a source writes without one. A
table's ``timestamps:`` block gives defaults for every timestamp column of the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

from segflow.errors import ConfigError
from segflow.yamlio import load_yaml

ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
DUCKDB_TYPES = {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
                "timestamp": "TIMESTAMPTZ"}
_COLUMN_KEYS = {"type", "nullable", "description", "allowed", "allowed_from", "min", "max",
                "case", "optional", "derived", "references", "identifier", "max_future",
                "timezone", "min_except_when"}
_TABLE_KEYS = {"table", "description", "key", "columns", "timestamps"}
_TIMESTAMP_DEFAULTS = {"min", "max", "max_future", "timezone"}
_DURATION = re.compile(r"^\s*(\d+)\s*(minute|hour|day|week)s?\s*$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    nullable: bool = True
    allowed: tuple[str, ...] | None = None
    allowed_from: str | None = None      # "fx_rates": the currencies of fx_rates.yaml
    min: float | None = None
    max: float | None = None
    case: str | None = None              # lower | upper, applied before the allowed check
    optional: bool = False               # may be absent from a source (filled with nulls)
    derived: bool = False                # computed by ingest, never read from a source
    convert: tuple[str, str | None] | None = None  # derived: (amount, currency column) in base
    references: tuple[str, ...] = ()     # "table.column", first ingested table is checked
    identifier: str | None = None        # email | phone: normalised, never a reason to reject
    earliest: datetime | None = None     # timestamp: nothing before this (``min:``)
    latest: datetime | None = None       # timestamp: nothing after this (``max:``)
    max_future: timedelta | None = None  # timestamp: nothing after the ingest's as-of + this
    timezone: str | None = None          # timestamp: zone of values written without one
    min_except_when: tuple[tuple[str, tuple[str, ...]], ...] = ()  # rows exempt from min


@dataclass(frozen=True)
class Contract:
    table: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    path: Path = field(compare=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def arrow_schema(self) -> pa.Schema:
        """The canonical Parquet schema, with each column's description as field metadata."""
        return pa.schema([pa.field(c.name, ARROW_TYPES[c.type], nullable=c.nullable,
                                   metadata={"description": c.description})
                          for c in self.columns])


def _duration(path: Path, value, line: int | None, what: str) -> timedelta:
    """'1 day', '36 hours', '2 weeks' (or a number of days) as a timedelta."""
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(days=value)
    found = _DURATION.match(str(value))
    if not found:
        raise ConfigError(path, line, f"{what} must be a duration such as '1 day' or "
                                      f"'12 hours', not {value!r}")
    return timedelta(**{f"{found.group(2)}s": int(found.group(1))})


def _instant(path: Path, value, line: int | None, what: str) -> datetime:
    """A date or datetime bound from YAML, as an aware UTC datetime (a date: its midnight)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ConfigError(path, line, f"{what} of a timestamp column must be a date such as "
                                  f"2000-01-01, not {value!r}")


def time_zone(path: Path, value, line: int | None, what: str) -> str:
    """An IANA zone name from a YAML file, checked (contracts and sources.yaml)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(path, line, f"{what}: unknown time zone {value!r} (an IANA name such "
                                      "as Asia/Kolkata or UTC)") from None
    return str(value)


def _exemptions(path: Path, name: str, value, line: int | None) -> tuple:
    """``min_except_when: {status: [refunded]}`` -> (("status", ("refunded",)),)."""
    if not isinstance(value, dict) or not value:
        raise ConfigError(path, line, f"column '{name}': min_except_when maps a column to "
                                      "the values whose rows may go below min")
    return tuple((str(col), tuple(str(v) for v in (vals if isinstance(vals, list) else [vals])))
                 for col, vals in value.items())


def _timestamp_bounds(path: Path, name: str, spec, line: int, defaults: dict) -> dict:
    """earliest, latest, max_future and timezone of a timestamp column (own or table's)."""
    merged = {**defaults, **{k: spec[k] for k in _TIMESTAMP_DEFAULTS if k in spec}}
    where = {k: spec.lines.get(k, line) for k in _TIMESTAMP_DEFAULTS}
    what = f"column '{name}'"
    return {
        "earliest": _instant(path, merged["min"], where["min"], f"{what}: min")
        if merged.get("min") is not None else None,
        "latest": _instant(path, merged["max"], where["max"], f"{what}: max")
        if merged.get("max") is not None else None,
        "max_future": _duration(path, merged["max_future"], where["max_future"],
                                f"{what}: max_future")
        if merged.get("max_future") is not None else None,
        "timezone": time_zone(path, merged["timezone"], where["timezone"], f"{what}: timezone")
        if merged.get("timezone") else None,
    }


def _parse_column(path: Path, name: str, spec, line: int, defaults: dict | None = None
                  ) -> Column:
    if not isinstance(spec, dict):
        raise ConfigError(path, line, f"column '{name}' must be a mapping")
    unknown = set(spec) - _COLUMN_KEYS
    if unknown:
        raise ConfigError(path, spec.lines.get(sorted(unknown)[0], line),
                          f"column '{name}': unknown keys {sorted(unknown)}")
    if spec.get("type") not in ARROW_TYPES:
        raise ConfigError(path, spec.lines.get("type", line),
                          f"column '{name}': type must be one of {sorted(ARROW_TYPES)}")
    if not spec.get("description"):
        raise ConfigError(path, line, f"column '{name}' needs a description")
    timestamp_only = sorted({"max_future", "timezone"} & set(spec))
    if timestamp_only and spec["type"] != "timestamp":
        raise ConfigError(path, spec.lines.get(timestamp_only[0], line),
                          f"column '{name}': {timestamp_only[0]} applies to timestamp columns")
    if "allowed" in spec and not isinstance(spec["allowed"], list):
        given = spec["allowed"]
        values = [v.strip() for v in given.split(",")] if isinstance(given, str) else []
        raise ConfigError(path, spec.lines.get("allowed", line),
                          f"column '{name}': allowed must be a list in brackets, e.g. "
                          f"allowed: [{', '.join(values) if values else 'a, b'}]; got "
                          f"{given!r}")
    refs = spec.get("references") or ()
    extra = {"min": spec.get("min"), "max": spec.get("max")}
    if spec["type"] == "timestamp":
        extra = {"min": None, "max": None,
                 **_timestamp_bounds(path, name, spec, line, defaults or {})}
    if "min_except_when" in spec:
        extra["min_except_when"] = _exemptions(path, name, spec["min_except_when"],
                                               spec.lines.get("min_except_when", line))
    if "derived" in spec:
        extra["convert"] = _conversion(path, name, spec, line)
    return Column(
        name=name, type=spec["type"], description=str(spec["description"]).strip(),
        nullable=bool(spec.get("nullable", True)),
        allowed=tuple(str(v) for v in spec["allowed"]) if "allowed" in spec else None,
        allowed_from=spec.get("allowed_from"),
        case=spec.get("case"), optional=bool(spec.get("optional", False)),
        derived="derived" in spec,
        references=tuple([refs] if isinstance(refs, str) else refs),
        identifier=spec.get("identifier"), **extra,
    )


def _conversion(path: Path, name: str, spec, line: int) -> tuple[str, str | None]:
    """``derived: {convert: amount, currency: currency}``: the amount in the project's base
    currency (``currency`` names the column holding each amount's currency; without it,
    every amount is already in the base currency). The column's name is the project's:
    one project names it after its currency, another net_amount."""
    given = spec["derived"]
    where = spec.lines.get("derived", line)
    if not isinstance(given, dict) or "convert" not in given or \
            set(given) - {"convert", "currency"}:
        raise ConfigError(path, where, f"column '{name}': derived is "
                          "{convert: <amount column>, currency: <currency column>}, the amount "
                          "converted to the project's base_currency with its FX rates")
    if spec["type"] != "float":
        raise ConfigError(path, spec.lines.get("type", line), f"column '{name}': a converted "
                          "amount is a float")
    currency = given.get("currency")
    return str(given["convert"]), None if currency is None else str(currency)


def _table_defaults(path: Path, raw) -> dict:
    block = raw.get("timestamps") or {}
    if not isinstance(block, dict):
        raise ConfigError(path, raw.line("timestamps"), "timestamps must be a mapping of "
                                                        "min, max, max_future, timezone")
    unknown = sorted(set(block) - _TIMESTAMP_DEFAULTS)
    if unknown:
        raise ConfigError(path, block.line(unknown[0]), f"timestamps: unknown key "
                          f"'{unknown[0]}'; allowed: {sorted(_TIMESTAMP_DEFAULTS)}")
    return dict(block)


def parse_contract(path: Path) -> Contract:
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(path, None, "a contract must be a mapping")
    unknown = set(raw) - _TABLE_KEYS
    if unknown:
        raise ConfigError(path, raw.line(sorted(unknown)[0]), f"unknown keys {sorted(unknown)}")
    defaults = _table_defaults(path, raw)
    columns = tuple(_parse_column(path, n, s, raw["columns"].line(n), defaults)
                    for n, s in raw["columns"].items())
    names = {c.name for c in columns}
    missing = [k for k in raw["key"] if k not in names]
    if missing:
        raise ConfigError(path, raw.line("key"), f"key columns {missing} are not columns")
    for col in columns:
        for other in (col.convert or ()):
            if other is not None and other not in names:
                raise ConfigError(path, raw["columns"].line(col.name), f"column '{col.name}':"
                                  f" derived names unknown column '{other}'")
        for other, _ in col.min_except_when:
            if other not in names:
                raise ConfigError(path, raw["columns"].line(col.name), f"column '{col.name}':"
                                  f" min_except_when names unknown column '{other}'")
    return Contract(table=raw["table"], description=str(raw["description"]).strip(),
                    key=tuple(raw["key"]), columns=columns, path=path)


@lru_cache(maxsize=4)
def load_contracts(folder: Path) -> dict[str, Contract]:
    """Every contract of a project's contracts folder, by table name (the file name without
    .yaml)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(folder, None, "no contracts folder here: a project keeps one YAML "
                          "contract per table in the folder segflow.yaml's paths.contracts names")
    contracts = {p.stem: parse_contract(p) for p in sorted(folder.glob("*.yaml"))}
    for name, contract in contracts.items():
        if contract.table != name:
            raise ConfigError(contract.path, 1, f"table '{contract.table}' != file name '{name}'")
    return contracts


def load_fx_rates(path: Path, base: str | None = None) -> dict[str, float]:
    """Currency -> units of the project's base currency per unit; the allowed currencies
    are exactly these keys. Without a rates file every amount must be in the base currency
    (``base``), whose rate is 1; a file whose ``base:`` is another currency is an error."""
    path = Path(path)
    if not path.exists():
        if base is None:
            raise ConfigError(path, None, "no FX rates file here")
        return {base.upper(): 1.0}
    stat = path.stat()
    return _fx_rates(path, base, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _fx_rates(path: Path, base: str | None, _mtime: int) -> dict[str, float]:
    raw = load_yaml(path)
    rates = raw.get("rates") if isinstance(raw, dict) else None
    if not rates:
        raise ConfigError(path, None, "expected a 'rates' mapping of currency: rate to the "
                          "project's base currency")
    declared = str(raw.get("base", base or "")).upper()
    if base is not None and declared != base.upper():
        raise ConfigError(path, raw.line("base"), f"rates are to {declared}, but the "
                          f"project's base_currency is {base.upper()} (segflow.yaml)")
    converted = {str(k).upper(): float(v) for k, v in rates.items()}
    if base is not None and converted.get(base.upper()) != 1.0:
        raise ConfigError(path, raw.line("rates"), f"the base currency {base.upper()} must "
                          "have rate 1.0")
    return converted
