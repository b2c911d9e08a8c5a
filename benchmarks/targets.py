"""The targets of issue 8 and how a run's figures measure against them."""

from __future__ import annotations

# A campaign refresh from the canonical tables (issue 8's list: features build, retrieval,
# scoring, segment evaluation, controls, movement, exports, drift; plus online load and
# publication), and the same with ingest in front: the whole scheduled flow but training.
REFRESH = ("features", "online", "refresh", "govern", "exports", "drift", "publish")
WITH_INGEST = ("ingest", *REFRESH)
TOTALS = {"campaign refresh (canonical tables -> published)": REFRESH,
          "full refresh incl. ingest (sources -> published)": WITH_INGEST}
REFRESH_SECONDS = {1_000_000: 60.0, 10_000_000: 600.0}
PEAK_RSS_MB = {10_000_000: 16 * 1024}


def refresh_total(stages: dict, names: tuple[str, ...] = REFRESH
                  ) -> tuple[float | None, float, list[str]]:
    """(seconds of the stages, their largest RSS, stages missing or failed)."""
    missing = [n for n in names if n not in stages or "error" in stages[n]]
    done = [stages[n] for n in names if n not in missing]
    if not done:
        return None, 0.0, missing
    return (None if missing else sum(r["seconds"] for r in done),
            max(r["peak_rss_mb"] for r in done), missing)


def _ratio(stages: dict, peer: str, ours: str) -> float | None:
    p, o = stages.get(peer), stages.get(ours)
    if not p or not o or "error" in p or "error" in o or not o["seconds"]:
        return None
    return p["seconds"] / o["seconds"]


def _at_least(label: str, value: float | None, want: float, unit: str = "x") -> tuple:
    if value is None:
        return label, "not measured", "not measured"
    verdict = "met" if value >= want else f"**missed**: {want / value:.1f}x short"
    return label, f"{value:.1f}{unit}", verdict


def _slowest(stages: dict, names: tuple[str, ...]) -> str:
    done = {n: stages[n]["seconds"] for n in names if n in stages and "error" not in stages[n]}
    if not done:
        return ""
    name = max(done, key=done.get)
    return f"; slowest stage: {name} {done[name]:.0f} s"


def evaluate(stages: dict, customers: int) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows for the results table."""
    rows = [
        _at_least("retrieval >= 5x faster than Feast file store",
                  _ratio(stages, "feast_file", "retrieval"), 5.0),
        _at_least("retrieval no slower than Feast DuckDB store",
                  _ratio(stages, "feast_duckdb", "retrieval"), 1.0),
        _at_least("online load >= 20x faster than Feast SQLite materialize",
                  _ratio(stages, "feast_materialize", "online"), 20.0),
    ]
    for label, names in TOTALS.items():
        rows += _totals(stages, customers, label, names)
    return rows


def _totals(stages: dict, customers: int, label: str, names: tuple[str, ...]) -> list[tuple]:
    rows = []
    total, rss, missing = refresh_total(stages, names)
    if customers in REFRESH_SECONDS:
        limit = REFRESH_SECONDS[customers]
        if total is None:
            rows.append((f"{label} < {limit:.0f} s", "not measured",
                         f"stages missing: {', '.join(missing)}"))
        else:
            verdict = ("met" if total < limit else
                       f"**missed** by {total - limit:.0f} s{_slowest(stages, names)}")
            rows.append((f"{label} < {limit:.0f} s", f"{total:.1f} s", verdict))
    if customers in PEAK_RSS_MB and not missing:
        limit = PEAK_RSS_MB[customers]
        verdict = "met" if rss < limit else f"**missed** by {rss - limit:,.0f} MB"
        rows.append((f"{label}: peak memory < {limit / 1024:.0f} GB", f"{rss / 1024:.1f} GB",
                     verdict))
    floor = stages.get("floor")
    if total is not None and floor and "error" not in floor:
        times = total / floor["seconds"]
        verdict = ("met" if times <= 5 else
                   f"**missed**: {times / 5:.1f}x over{_slowest(stages, names)}")
        rows.append((f"{label} within 5x of the read-once floor", f"{times:.1f}x", verdict))
    return rows
