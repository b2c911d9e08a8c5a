"""The columns a predicate may use: features (Feast catalogue) and model score columns.

Score columns come from ``training/models/*.yaml`` (``outputs``), not from trained models,
so templates that threshold a score validate before any model has been trained.
Types are reduced to families (numeric, string, bool, timestamp) for param checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segflow.errors import ConfigError
from segflow.settings import Settings
from segflow.yamlio import load_yaml

FAMILIES = {
    "bool": "bool", "int": "numeric", "float": "numeric", "double": "numeric",
    "decimal": "numeric", "numeric": "numeric", "real": "numeric", "timestamp": "timestamp",
    "date": "timestamp", "time": "timestamp", "str": "string", "string": "string",
    "varchar": "string", "text": "string", "utf8": "string",
}
# which param types may meet a column of each family in a comparison
PARAM_FAMILY = {"int": "numeric", "float": "numeric", "str": "string", "bool": "bool",
                "date": "timestamp", "list[str]": "string"}


def family(type_name: Any) -> str:
    """'Int64', 'float64', 'timestamp[us, tz=UTC]', 'UNIX_TIMESTAMP', ... -> a family."""
    text = str(type_name).lower().replace("unix_", "")
    for key in ("bool", "timestamp", "date", "time", "decimal", "double", "float", "int",
                "numeric", "real", "string", "varchar", "text", "utf8", "str"):
        if key in text:
            return FAMILIES[key]
    return "any"


def model_outputs(settings: Settings, entity: str | None = None) -> dict[str, str]:
    """Score column -> family, from every model config (optionally of one entity)."""
    out: dict[str, str] = {}
    folder = settings.models_config_dir
    for path in sorted(Path(folder).glob("*.yaml")) if Path(folder).exists() else []:
        try:
            cfg = load_yaml(path)
        except ConfigError:
            continue  # the models stage reports its own broken files
        if not isinstance(cfg, dict) or (entity and cfg.get("entity", entity) != entity):
            continue
        out.update(_outputs(cfg.get("outputs")))
    return out


def model_of_column(settings: Settings) -> dict[str, str]:
    """Score column -> model name, so a missing champion can be named in an error."""
    owners: dict[str, str] = {}
    folder = Path(settings.models_config_dir)
    for path in sorted(folder.glob("*.yaml")) if folder.exists() else []:
        try:
            cfg = load_yaml(path)
        except ConfigError:
            continue
        if isinstance(cfg, dict):
            for col in _outputs(cfg.get("outputs")):
                owners[col] = str(cfg.get("name", path.stem))
    return owners


def _outputs(raw: Any) -> dict[str, str]:
    """``outputs`` as a list of names, a list of {name, type} or a mapping name -> type."""
    if isinstance(raw, dict):
        return {str(k): family(v.get("type") if isinstance(v, dict) else v)
                for k, v in raw.items()}
    out = {}
    for item in raw or []:
        if isinstance(item, str):
            out[item] = "any"  # names only: the model stage declares no types
        elif isinstance(item, dict) and "name" in item:
            out[str(item["name"])] = family(item.get("type", "float"))
    return out


def feature_columns(settings: Settings, entity: str) -> dict[str, str]:
    """Feature column -> family for one entity, from the Feast repo (its columns are cached
    in the workspace, so a check does not import Feast while the repo is unchanged)."""
    from segflow.featurestore.columns import feature_types

    return {r["feature"]: family(r["type"]) for r in feature_types(settings)
            if r["entity"] == entity}


def known_columns(settings: Settings, entity: str) -> dict[str, str]:
    """Every column a template of ``entity`` may use: features, scores and the join key."""
    columns = {f"{entity}_id": "string", **feature_columns(settings, entity)}
    for name, fam in model_outputs(settings, entity).items():
        columns.setdefault(name, fam)  # a typed scores view wins over names-only configs
    return columns
