"""Table contracts: the YAML files in ``ingest/contracts/`` turned into types and checks.

A contract is the promise every later stage relies on (column names, Arrow types, keys,
allowed values), so it is data, reviewed like code, and this module only interprets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

from segflow.errors import ConfigError
from segflow.yamlio import load_yaml

CONTRACTS_DIR = Path(__file__).with_name("contracts")
FX_RATES_PATH = Path(__file__).with_name("fx_rates.yaml")

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
                "case", "optional", "derived", "references", "identifier"}
_TABLE_KEYS = {"table", "description", "key", "columns"}


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
    references: tuple[str, ...] = ()     # "table.column", first ingested table is checked
    identifier: str | None = None        # email | phone: normalised, never a reason to reject


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


def _parse_column(path: Path, name: str, spec, line: int) -> Column:
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
    refs = spec.get("references") or ()
    return Column(
        name=name, type=spec["type"], description=str(spec["description"]).strip(),
        nullable=bool(spec.get("nullable", True)),
        allowed=tuple(str(v) for v in spec["allowed"]) if "allowed" in spec else None,
        allowed_from=spec.get("allowed_from"), min=spec.get("min"), max=spec.get("max"),
        case=spec.get("case"), optional=bool(spec.get("optional", False)),
        derived=bool(spec.get("derived", False)),
        references=tuple([refs] if isinstance(refs, str) else refs),
        identifier=spec.get("identifier"),
    )


def parse_contract(path: Path) -> Contract:
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(path, None, "a contract must be a mapping")
    unknown = set(raw) - _TABLE_KEYS
    if unknown:
        raise ConfigError(path, raw.line(sorted(unknown)[0]), f"unknown keys {sorted(unknown)}")
    columns = tuple(_parse_column(path, n, s, raw["columns"].line(n))
                    for n, s in raw["columns"].items())
    names = {c.name for c in columns}
    missing = [k for k in raw["key"] if k not in names]
    if missing:
        raise ConfigError(path, raw.line("key"), f"key columns {missing} are not columns")
    return Contract(table=raw["table"], description=str(raw["description"]).strip(),
                    key=tuple(raw["key"]), columns=columns, path=path)


@lru_cache(maxsize=1)
def load_contracts(folder: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    """Every contract, by table name (the file name without .yaml)."""
    contracts = {p.stem: parse_contract(p) for p in sorted(folder.glob("*.yaml"))}
    for name, contract in contracts.items():
        if contract.table != name:
            raise ConfigError(contract.path, 1, f"table '{contract.table}' != file name '{name}'")
    return contracts


@lru_cache(maxsize=1)
def load_fx_rates(path: Path = FX_RATES_PATH) -> dict[str, float]:
    """Currency -> INR per unit; the allowed currencies are exactly these keys."""
    raw = load_yaml(path)
    rates = raw.get("rates") if isinstance(raw, dict) else None
    if not rates:
        raise ConfigError(path, None, "expected a 'rates' mapping of currency: rate to INR")
    return {str(k).upper(): float(v) for k, v in rates.items()}
