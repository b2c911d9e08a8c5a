"""The synthetic B2B accounts world: accounts in 2-3 level hierarchies, their contacts,
billing, product usage, support tickets and free-text notes, with known truth.

Truth kept apart (``truth/``): each account's growth trajectory and true quarterly growth,
each note's topic, and which contact records are duplicates of which. Everything is drawn
column-wise from one seeded generator, so the same seed gives the same bytes, and 5,000
accounts take well under a second. Numbers that shape the world are in accounts_world.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segflow.errors import ConfigError
from segflow.ingest.synthetic.accounts_anomalies import plant_anomalies
from segflow.ingest.synthetic.accounts_contacts import contacts, email_events
from segflow.ingest.synthetic.accounts_finance import (
    billing,
    holdings,
    product_usage,
    support_tickets,
)
from segflow.ingest.synthetic.accounts_notes import notes
from segflow.ingest.synthetic.arrays import choice, ids, pick, timestamps
from segflow.ingest.synthetic.config import normalised, to_seconds
from segflow.yamlio import load_yaml

DEFAULT_CONFIG = Path(__file__).with_name("accounts_world.yaml")
TRAJECTORIES = ["growing", "stable", "declining"]


@dataclass
class Accounts:
    """The accounts table plus the hidden per-account state the other tables are drawn from."""

    table: pa.Table
    parent: np.ndarray       # index of the parent account, -1 for top accounts
    size: np.ndarray         # revenue scale (INR per quarter)
    trajectory: np.ndarray   # index into TRAJECTORIES
    growth: np.ndarray       # true quarterly revenue growth
    created: np.ndarray      # epoch seconds
    region: np.ndarray       # index into the config's regions
    owner: np.ndarray        # index into the config's owners


def load_world_config(path: Path = DEFAULT_CONFIG) -> dict:
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(path, None, "expected a mapping at the top level")
    return raw


def _parents(rng, n: int, h: dict) -> np.ndarray:
    """Parent index per account: tops first, then children of tops, then grandchildren."""
    n_child = int(round(n * float(h["child_share"]))) if n > 1 else 0
    n_l2 = int(round(n_child * float(h["grandchild_share"])))
    n_l1 = n_child - n_l2
    if n_l1 == 0:
        n_l2, n_l1 = 0, n_child
    n_top = n - n_child
    weights = rng.pareto(1.5, n_top) + 1          # a few tops have many children
    l1 = choice(rng, weights / weights.sum(), n_l1).astype(np.int64)
    l2 = n_top + rng.integers(0, max(n_l1, 1), n_l2)
    return np.r_[np.full(n_top, -1), l1, l2].astype(np.int64)


def _inherit(parent: np.ndarray, own: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Children take their parent's value where ``keep``; parents precede their children."""
    out, child = own.copy(), (parent >= 0) & keep
    for _ in range(2):  # three levels: the second pass carries values down to grandchildren
        out[child] = out[parent[child]]
    return out


def _names(rng, cfg: dict, parent: np.ndarray) -> pa.Array:
    parts = cfg["name_parts"]
    n = len(parent)
    top = pc.binary_join_element_wise(
        pick(parts["first"], rng.integers(0, len(parts["first"]), n)),
        pick(parts["second"], rng.integers(0, len(parts["second"]), n)), " ")
    top_np = np.asarray(top.to_numpy(zero_copy_only=False), dtype=object)
    base = pa.array(_inherit(parent, top_np, np.ones(n, bool)), pa.string())
    unit = pick(parts["unit"], rng.integers(0, len(parts["unit"]), n))
    child_name = pc.binary_join_element_wise(base, unit, " - ")
    return pc.if_else(pa.array(parent >= 0), child_name, base)


def _trajectories(rng, cfg: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    spec = cfg["trajectories"]
    _, p = normalised({k: spec[k]["weight"] for k in TRAJECTORIES})
    trajectory = choice(rng, p, n)
    lo = np.array([spec[k]["growth"][0] for k in TRAJECTORIES])[trajectory]
    hi = np.array([spec[k]["growth"][1] for k in TRAJECTORIES])[trajectory]
    return trajectory, lo + (hi - lo) * rng.random(n)


def _created(rng, cfg: dict, parent: np.ndarray) -> np.ndarray:
    """Creation time; a child is created after its parent (parents precede children)."""
    w = cfg["window"]
    start, stop = to_seconds(w["created_from"]), to_seconds(w["created_to"])
    created = start + ((stop - start) * rng.random(len(parent)) ** 0.8).astype(np.int64)
    child = parent >= 0
    for _ in range(2):
        after = created[parent[child]]
        created[child] = after + ((stop - after) * rng.random(int(child.sum()))).astype(np.int64)
    return created - created % 86_400


def build_accounts(rng, cfg: dict, n: int) -> Accounts:
    h = cfg["hierarchy"]
    parent = _parents(rng, n, h)
    child = parent >= 0
    size = float(cfg["size"]["median_revenue_inr_q"]) * np.exp(
        float(cfg["size"]["sigma"]) * rng.standard_normal(n))
    size[child] *= float(cfg["size"]["child_scale"])
    industries, p_ind = normalised(cfg["industries"])
    industry = _inherit(parent, choice(rng, p_ind, n), np.ones(n, bool))
    regions, p_reg = normalised({k: v["weight"] for k, v in cfg["regions"].items()})
    region = _inherit(parent, choice(rng, p_reg, n), rng.random(n) < h["same_region_share"])
    countries = [cfg["regions"][r]["country"] for r in regions]
    owners = cfg["owners"]
    owner = _inherit(parent, rng.integers(0, len(owners), n),
                     rng.random(n) < h["same_owner_share"])
    s = cfg["strategic"]
    strategic = ~child & (size >= np.quantile(size, s["top_size_quantile"]))
    strategic |= ~child & (rng.random(n) < s["random_share"])
    strategic = _inherit(parent, strategic, np.ones(n, bool))
    trajectory, growth = _trajectories(rng, cfg, n)
    created = _created(rng, cfg, parent)
    numbers = rng.permutation(n) + 1                 # ids do not reveal the hierarchy
    account_id = ids("A", numbers, 6)
    table = pa.table({
        "account_id": account_id,
        "parent_account_id": pc.if_else(pa.array(child),
                                         account_id.take(pa.array(np.maximum(parent, 0))),
                                         pa.scalar(None, pa.string())),
        "name": _names(rng, cfg, parent),
        "industry": pick(industries, industry),
        "region": pick(regions, region),
        "country": pick(countries, region),
        "created_ts": timestamps(created),
        "strategic_flag": pa.array(strategic),
        "owner": pick(owners, owner),
    })
    return Accounts(table, parent, size, trajectory, growth, created, region, owner)


def generate_accounts(accounts: int, seed: int = 7,
                      config: Path = DEFAULT_CONFIG) -> dict[str, pa.Table]:
    """Every table of the world by canonical name, plus truth tables (``*_truth``)."""
    cfg = load_world_config(config)
    rng = np.random.default_rng(seed)
    acc = build_accounts(rng, cfg, int(accounts))
    median = float(cfg["size"]["median_revenue_inr_q"])
    lines, hold, share = holdings(rng, cfg, int(accounts))
    people, duplicates = contacts(rng, cfg, acc, median)
    account_notes, notes_truth = notes(rng, cfg, acc, share, lines)
    invoices, anomaly_truth = plant_anomalies(seed, cfg, acc,
                                              billing(rng, cfg, acc, lines, hold, share))
    tables = {
        "accounts": acc.table,
        "customers": people,
        "billing": invoices,
        "product_usage": product_usage(rng, cfg, acc, lines, hold),
        "support_tickets": support_tickets(rng, cfg, acc, median),
        "account_notes": account_notes,
        "account_notes_truth": notes_truth,
        "accounts_truth": pa.table({
            "account_id": acc.table["account_id"],
            "growth_trajectory": pick(TRAJECTORIES, acc.trajectory),
            "quarterly_growth": pa.array(acc.growth),
        }),
        "contact_duplicates_truth": duplicates,
        "accounts_anomaly_truth": anomaly_truth,
    }
    # drawn last, so every table above stays what the same seed always gave
    tables["engagement_events"] = email_events(rng, cfg, people)
    return tables


# How each table is written: file name and, for the "finance export", its own column names
# (so the demo's sources.yaml exercises the column mapping of `segflow ingest`).
FILES = {
    "accounts": ("accounts.parquet", {}),
    "customers": ("crm_contacts.csv", {}),
    "billing": ("finance_invoices.parquet", {"invoice_id": "invoice_no",
                                             "account_id": "customer_account",
                                             "revenue": "net_revenue_inr",
                                             "margin": "gross_margin_inr"}),
    "product_usage": ("product_usage.parquet", {}),
    "support_tickets": ("support_tickets.csv", {}),
    "account_notes": ("account_notes.parquet", {}),
    "engagement_events": ("email_events.csv", {}),
}


def _write(table: pa.Table, path: Path) -> Path:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".csv":
        pacsv.write_csv(table, tmp)
    else:
        pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    return path


def _sources_yaml(out_dir: Path) -> Path:
    import yaml

    sources = {t: {"kind": "csv" if f.endswith(".csv") else "parquet", "path": f,
                   "columns": cols} for t, (f, cols) in FILES.items()}
    target = out_dir / "sources.yaml"
    as_of = load_world_config()["window"]["end"].isoformat()  # future dates: from the world's end
    target.write_text("# Written by `segflow demo-data accounts`; read by `segflow ingest`.\n"
                      + yaml.safe_dump({"as_of": as_of, "sources": sources}, sort_keys=False),
                      encoding="utf-8")
    return target


def write_accounts_world(out_dir: Path, accounts: int, seed: int = 7,
                         truth_dir: Path | None = None) -> dict[str, Path]:
    """Source files + sources.yaml into ``out_dir``, truth into ``out_dir.parent / 'truth'``."""
    out_dir = Path(out_dir)
    truth_dir = Path(truth_dir) if truth_dir else out_dir.parent / "truth"
    out_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in generate_accounts(accounts, seed).items():
        if name in FILES:
            file, renames = FILES[name]
            table = table.rename_columns([renames.get(c, c) for c in table.column_names])
            paths[name] = _write(table, out_dir / file)
        else:
            paths[name] = _write(table, truth_dir / f"{name}.parquet")
    _sources_yaml(out_dir)
    return paths
