"""Region x language clusters: the split the Holi campaign uses for creative and language.
The whole mapping lives in config/region_language.yaml, so marketing can move a state or a
language between clusters without touching code."""

from datetime import timedelta
from itertools import product

from entities import customer
from feast import FeatureView, Field, FileSource
from feast.types import String

from segflow.errors import ConfigError
from segflow.featurestore.transform import (
    Transformation,
    config_path,
    load_config,
    source_path,
)

_FILE = "region_language.yaml"
_cfg = load_config(__file__, _FILE, {"zones": dict, "language_groups": dict, "clusters": list})


def _pairs(mapping: dict, key: str) -> list[dict]:
    """{group: [values]} -> rows (value, group); values compared lower-cased."""
    rows = []
    for group, values in mapping.items():
        if not isinstance(values, list):
            raise ConfigError(config_path(__file__, _FILE), mapping.line(group),
                              f"'{group}' must list its members")
        rows += [{"value": str(v).lower(), key: str(group)} for v in values]
    return rows


def _rules(rules: list) -> list[dict]:
    """Cluster rules -> rows (priority, zone, region, language, cluster); null = any."""
    rows = []
    for priority, rule in enumerate(rules):
        line = getattr(rule, "start_line", _cfg.line("clusters"))
        if not isinstance(rule, dict) or "cluster" not in rule or set(rule) - {
                "cluster", "zones", "regions", "languages"}:
            raise ConfigError(config_path(__file__, _FILE), line,
                              "a rule has a cluster and optional zones, regions, languages")
        lists = [[str(v).lower() for v in rule[k]] if rule.get(k) else [None]
                 for k in ("zones", "regions", "languages")]
        rows += [{"priority": priority, "zone": z, "region": r, "language": g,
                  "cluster": str(rule["cluster"])} for z, r, g in product(*lists)]
    return rows


customer_region_language = FeatureView(
    name="customer_region_language",
    description="Region zone, language group and the region x language cluster.",
    owner="crm-analytics@segflow.dev",
    tags={"domain": "b2c", "topic": "geography", "campaign": "holi"},
    entities=[customer],
    ttl=timedelta(days=400),
    schema=[
        Field(name="customer_id", dtype=String, description="Customer id (join key)."),
        Field(name="region_zone", dtype=String,
              description="north, west, south, east, central, northeast or diaspora."),
        Field(name="language_group", dtype=String, description="hindi, regional or english."),
        Field(name="region_language_cluster", dtype=String,
              description="hindi_heartland, west_marathi_gujarati, south_dravidian, "
                          "east_bengali, punjab_punjabi or diaspora."),
    ],
    source=FileSource(
        name="customer_region_language_source",
        path=source_path("customer_region_language"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    ),
)

transformation = Transformation(
    sources=("customers",),
    tables={"region_zones": _pairs(_cfg["zones"], "zone"),
            "language_groups": _pairs(_cfg["language_groups"], "language_group"),
            "cluster_rules": _rules(_cfg["clusters"])},
    sql="""
    WITH c AS (
        SELECT c.customer_id, lower(c.region) AS region, lower(c.preferred_language) AS lang,
               z.zone, g.language_group
        FROM customers c
        LEFT JOIN region_zones z ON z.value = lower(c.region)
        LEFT JOIN language_groups g ON g.value = lower(c.preferred_language)
        WHERE c.signup_ts < $as_of
    )
    SELECT c.customer_id, any_value(c.zone) AS region_zone,
           any_value(c.language_group) AS language_group,
           arg_min(r.cluster, r.priority) AS region_language_cluster
    FROM c LEFT JOIN cluster_rules r
      ON (r.zone IS NULL OR r.zone = c.zone)
     AND (r.region IS NULL OR r.region = c.region)
     AND (r.language IS NULL OR r.language = c.lang)
    GROUP BY c.customer_id
    """,
)
