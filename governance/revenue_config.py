"""The revenue control's configuration: which of the project's tables is finance's record of
revenue, which columns hold the id, the amount and the date, or why the control is off.

A business decides this, so the campaign file says it (``controls.revenue``) and the platform
names no table or column. It is checked when the file is read (``templates check``, the
start of a refresh): a table the project has no contract for, a column its contract lacks, an
amount that is not a number or a filter DuckDB cannot run is an error naming the file and
line, never a failure halfway through a refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segflow.errors import ConfigError
from segflow.settings import Settings
from segflow.yamlio import LineDict

CONTROL_KEYS = {"finance": dict, "segments": dict, "tolerance": (int, float),
                "period_days": int, "switched_off": str}
SOURCE_KEYS = {"table": str, "id": str, "amount": str, "date": str, "where": str}
REQUIRED = ("table", "id", "amount", "date")
AMOUNT_TYPES = ("float", "int")
DATE_TYPES = ("timestamp",)
HOW = ("name finance's record of revenue (controls.revenue.finance: table, id, amount, date) "
       "or switch the control off with the reason (controls.revenue.switched_off: REASON); see "
       "docs/governance.md")


@dataclass(frozen=True)
class RevenueSource:
    """Rows of one canonical table: whose revenue (``id``), how much (``amount``, in the
    project's base currency), when (``date``), and which rows count (``where``, SQL)."""

    table: str
    id: str
    amount: str
    date: str
    where: str | None = None


@dataclass(frozen=True)
class RevenueControl:
    """Segment revenue (from ``segments``, else from ``finance`` itself) must add up to the
    finance total of the period within ``tolerance``; or the control is ``switched_off`` with a
    reason printed wherever its result is shown."""

    finance: RevenueSource | None = None
    segments: RevenueSource | None = None
    tolerance: float = 0.001
    period_days: int = 365
    switched_off: str | None = None

    @property
    def attributed(self) -> RevenueSource | None:
        return self.segments or self.finance

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.table for s in (self.finance, self.segments) if s))


def _line(node, key, default):
    return node.lines.get(key, default) if isinstance(node, LineDict) else default


def _keys(node, allowed: dict, where: str, path, line) -> None:
    for key, value in node.items():
        at = _line(node, key, line)
        if key not in allowed:
            raise ConfigError(path, at, f"unknown key '{key}' in {where}; allowed: "
                              f"{', '.join(sorted(allowed))}")
        want = allowed[key]
        if not isinstance(value, want) or isinstance(value, bool):
            kind = "a number" if want == (int, float) else want.__name__
            raise ConfigError(path, at, f"{where}.{key} must be {kind}, got {value!r}")


def _source(node, where: str, path, line) -> RevenueSource:
    if not isinstance(node, dict):
        raise ConfigError(path, line, f"{where} must be a mapping (table, id, amount, date)")
    _keys(node, SOURCE_KEYS, where, path, line)
    missing = [k for k in REQUIRED if not node.get(k)]
    if missing:
        raise ConfigError(path, line, f"{where} lacks {', '.join(missing)}: name the table "
                          "and its id, amount (base currency) and date columns")
    return RevenueSource(**{k: node.get(k) for k in SOURCE_KEYS})


def parse_revenue(settings: Settings, campaign: dict, path: Path | None) -> RevenueControl:
    """``controls.revenue`` of a campaign file, checked against the project's contracts."""
    controls = campaign.get("controls") or {}
    at = _line(controls, "revenue", _line(campaign, "controls", 1))
    node = controls.get("revenue") if isinstance(controls, dict) else None
    if node is None:
        raise ConfigError(path, at, f"controls.revenue is missing: {HOW}")
    if not isinstance(node, dict):
        raise ConfigError(path, at, "controls.revenue must be a mapping")
    _keys(node, CONTROL_KEYS, "controls.revenue", path, at)
    if "switched_off" in node:
        reason = node["switched_off"].strip()
        others = sorted(set(node) - {"switched_off"})
        if others:
            raise ConfigError(path, at, f"controls.revenue is switched off, so "
                              f"{', '.join(others)} would be ignored: remove them, or remove "
                              "switched_off")
        if len(reason) < 10:
            raise ConfigError(path, _line(node, "switched_off", at), "controls.revenue."
                              "switched_off needs the "
                              "reason the control does not apply (at least 10 characters): "
                              "it is printed in every report and audit entry")
        return RevenueControl(switched_off=reason)
    if "finance" not in node:
        raise ConfigError(path, at, f"controls.revenue names no finance table: {HOW}")
    control = RevenueControl(
        finance=_source(node["finance"], "controls.revenue.finance", path,
                        _line(node, "finance", at)),
        segments=_source(node["segments"], "controls.revenue.segments", path,
                         _line(node, "segments", at)) if "segments" in node else None,
        tolerance=float(node.get("tolerance", 0.001)),
        period_days=int(node.get("period_days", 365)))
    if control.tolerance < 0:
        raise ConfigError(path, _line(node, "tolerance", at), "controls.revenue.tolerance "
                          "must be >= 0 (a fraction of the finance total)")
    if control.period_days < 1:
        raise ConfigError(path, _line(node, "period_days", at),
                          "controls.revenue.period_days must be at least 1")
    for name in ("finance", "segments"):
        source = getattr(control, name)
        if source is not None:
            _check_source(settings, source, f"controls.revenue.{name}", path,
                          _line(node, name, at))
    return control


def _check_source(settings: Settings, source: RevenueSource, where: str, path, line) -> None:
    """The table has a contract in this project, the columns exist with usable types, and
    the filter runs (on an empty table of the contract's schema: no data needed)."""
    from segflow.ingest.contract import load_contracts

    contracts = load_contracts(settings.contracts_dir)
    contract = contracts.get(source.table)
    if contract is None:
        raise ConfigError(path, line, f"{where}.table '{source.table}' is not a table of this "
                          f"project (contracts in {settings.contracts_dir}: "
                          f"{', '.join(sorted(contracts)) or 'none'}); name one of them, or "
                          "add its contract and source")
    names = contract.names
    for key, types in (("id", None), ("amount", AMOUNT_TYPES), ("date", DATE_TYPES)):
        column = getattr(source, key)
        if column not in names:
            raise ConfigError(path, line, f"{where}.{key} '{column}' is not a column of "
                              f"{source.table} (its contract has {', '.join(names)})")
        kind = contract.column(column).type
        if types and kind not in types:
            raise ConfigError(path, line, f"{where}.{key} '{column}' is {kind}; the {key} "
                              f"must be {' or '.join(types)}")
    if source.where:
        import duckdb

        from segflow.ingest.contract import DUCKDB_TYPES

        # an empty table of the contract's columns, declared in SQL: a Python object read by
        # DuckDB's replacement scan would import pandas, which `templates check` avoids
        con = duckdb.connect()
        columns = ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.type]}' for c in contract.columns)
        try:
            con.execute(f"CREATE TABLE empty ({columns})")
            con.execute(f"SELECT count(*) FROM empty WHERE ({source.where})").fetchall()
        except duckdb.Error as err:
            raise ConfigError(path, line, f"{where}.where does not run on {source.table}: "
                              f"{str(err).splitlines()[0]}") from None
