"""The peer a team writes by hand: the five customer feature views in plain pandas
(read_parquet, boolean masks, groupby, merge), as of one time.

It computes the same values as the feature views' SQL (checked on a sample by the harness)
so its time is a fair comparison; it keeps no snapshots and no point-in-time history, which
our pipeline does, so it is if anything favoured. Windows, weights and the region/language
mapping are read from the same YAML files the views use.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import yaml

DAY = pd.Timedelta(days=1)


def _config(repo_dir: Path, name: str) -> dict:
    return yaml.safe_load((repo_dir / "config" / name).read_text())


def _days_between(ts: pd.Series, as_of: datetime) -> pd.Series:
    """Whole days from ts to as_of, floored; <NA> where ts is missing."""
    return ((pd.Timestamp(as_of) - ts) // DAY).astype("Int64")


def profile(customers: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    c = customers
    return pd.DataFrame({
        "customer_id": c["customer_id"], "region": c["region"], "country": c["country"],
        "preferred_language": c["preferred_language"], "is_diaspora": c["country"] != "IN",
        "signup_ts": c["signup_ts"], "tenure_days": _days_between(c["signup_ts"], as_of),
        **{k: c[k] for k in ("consent_email", "consent_sms", "consent_push", "consent_ads",
                             "onboarding_completed")}})


def rfm(ids: pd.Series, orders: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    o = orders[orders["order_ts"] < as_of]
    done = o["status"] == "completed"
    in_year = o["order_ts"] >= as_of - timedelta(days=365)
    d = o[done]
    g = pd.DataFrame({"customer_id": ids}).set_index("customer_id")
    g["last"] = d.groupby("customer_id")["order_ts"].max()
    g["frequency_365d"] = d[in_year[done]].groupby("customer_id").size()
    g["monetary_365d"] = d[in_year[done]].groupby("customer_id")["amount_inr"].sum()
    g["lifetime_spend"] = d.groupby("customer_id")["amount_inr"].sum()
    g["lifetime_orders"] = d.groupby("customer_id").size()
    g["refunds_365d"] = o[(o["status"] == "refunded") & in_year].groupby("customer_id").size()
    out = pd.DataFrame({"customer_id": g.index,
                        "recency_days": _days_between(g["last"], as_of).to_numpy()})
    for col in ("frequency_365d", "lifetime_orders", "refunds_365d"):
        out[col] = g[col].fillna(0).astype("int64").to_numpy()
    for col in ("monetary_365d", "lifetime_spend"):
        out[col] = g[col].fillna(0.0).to_numpy()
    out["aov"] = (g["lifetime_spend"] / g["lifetime_orders"]).to_numpy()
    return out


def festival(ids: pd.Series, orders: pd.DataFrame, as_of: datetime, cfg: dict) -> pd.DataFrame:
    done = orders[(orders["status"] == "completed") & (orders["order_ts"] < as_of)]
    o = done[done["order_ts"] >= as_of - timedelta(days=cfg["festival_window_days"])]
    h = done[(done["order_ts"] >= as_of - timedelta(days=cfg["holi_window_days"]))
             & done["category"].isin(cfg["holi_categories"])]
    tagged = o[o["festival"].notna()]
    g = pd.DataFrame({"customer_id": ids}).set_index("customer_id")
    g["orders"] = o.groupby("customer_id").size()
    g["festival_orders"] = tagged.groupby("customer_id").size()
    g["festival_spend"] = tagged.groupby("customer_id")["amount_inr"].sum()
    g["holi"] = o[o["festival"] == "holi"].groupby("customer_id").size()
    g["holi_n"] = h.groupby("customer_id").size()
    fest = g["festival_orders"].fillna(0)
    return pd.DataFrame({
        "customer_id": g.index,
        "holi_colour_purchases_30d": g["holi_n"].fillna(0).astype("int64").to_numpy(),
        "festival_orders_365d": fest.astype("int64").to_numpy(),
        "festival_spend_365d": g["festival_spend"].fillna(0.0).to_numpy(),
        "holi_buyer_last_year": (g["holi"].fillna(0) > 0).to_numpy(),
        "festival_purchase_score": (fest / g["orders"]).fillna(0.0).to_numpy()})


def engagement(ids: pd.Series, events: pd.DataFrame, as_of: datetime, cfg: dict):
    e = events[events["event_ts"] < as_of]
    weights = pd.DataFrame(cfg["weights"])
    e = e.merge(weights, on=["channel", "event_type"], how="left")
    recent = e[e["event_ts"] >= as_of - timedelta(days=cfg["window_days"])]
    year = e[e["event_ts"] >= as_of - timedelta(days=cfg["long_window_days"])]
    by = "customer_id"
    g = pd.DataFrame({by: ids}).set_index(by)
    g["score"] = recent.groupby(by)["weight"].sum()
    email = recent[recent["channel"] == "email"]
    g["opens"] = email[email["event_type"] == "open"].groupby(by).size()
    g["clicks"] = email[email["event_type"] == "click"].groupby(by).size()
    g["sessions"] = recent[recent["event_type"] == "app_session"].groupby(by).size()
    active = e[e["event_type"].isin(cfg["activity_event_types"])]
    g["last"] = active.groupby(by)["event_ts"].max()
    g["complaints"] = year[year["event_type"] == "complaint"].groupby(by).size()
    g["unsub"] = e[e["event_type"] == "unsubscribe"].groupby(by).size()
    counts = {"email_opens_30d": "opens", "email_clicks_30d": "clicks",
              "app_sessions_30d": "sessions", "complaints_365d": "complaints"}
    out = pd.DataFrame({by: g.index, "engagement_score": g["score"].fillna(0.0).to_numpy()})
    for name, col in counts.items():
        out[name] = g[col].fillna(0).astype("int64").to_numpy()
    out["days_since_last_activity"] = _days_between(g["last"], as_of).to_numpy()
    out["active_14d"] = (g["last"] >= as_of - timedelta(days=cfg["active_days"])).to_numpy()
    out["unsubscribed"] = (g["unsub"].fillna(0) > 0).to_numpy()
    return out[[by, "engagement_score", "email_opens_30d", "email_clicks_30d",
                "app_sessions_30d", "days_since_last_activity", "active_14d",
                "complaints_365d", "unsubscribed"]]


def region_language(customers: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    def lookup(mapping: dict) -> dict:
        return {str(v).lower(): group for group, values in mapping.items() for v in values}

    region = customers["region"].str.lower()
    lang = customers["preferred_language"].str.lower()
    zone = region.map(lookup(cfg["zones"]))
    cluster = pd.Series(None, index=customers.index, dtype=object)
    for rule in cfg["clusters"]:
        mask = cluster.isna()
        for key, values in (("zones", zone), ("regions", region), ("languages", lang)):
            if rule.get(key):
                mask &= values.isin([str(v).lower() for v in rule[key]])
        cluster[mask] = rule["cluster"]
    return pd.DataFrame({"customer_id": customers["customer_id"], "region_zone": zone,
                         "language_group": lang.map(lookup(cfg["language_groups"])),
                         "region_language_cluster": cluster})


def read_inputs(canonical: Path) -> dict[str, pd.DataFrame]:
    cols = {"customers": None,
            "orders": ["customer_id", "order_ts", "amount_inr", "status", "festival",
                       "category"],
            "engagement_events": ["customer_id", "event_ts", "channel", "event_type"]}
    return {t: pd.read_parquet(canonical / f"{t}.parquet", columns=c) for t, c in cols.items()}


def features(canonical: Path, repo_dir: Path, as_of: datetime) -> pd.DataFrame:
    """Every customer feature as of ``as_of``, one row per customer signed up before it."""
    data = read_inputs(canonical)
    customers = data["customers"][data["customers"]["signup_ts"] < as_of]
    customers = customers.reset_index(drop=True)
    ids = customers["customer_id"]
    parts = [profile(customers, as_of), rfm(ids, data["orders"], as_of),
             festival(ids, data["orders"], as_of, _config(repo_dir, "festival_buyer.yaml")),
             engagement(ids, data["engagement_events"], as_of,
                        _config(repo_dir, "engagement.yaml")),
             region_language(customers, _config(repo_dir, "region_language.yaml"))]
    frame = parts[0]
    for part in parts[1:]:
        frame = frame.merge(part, on="customer_id", how="left")
    return frame
