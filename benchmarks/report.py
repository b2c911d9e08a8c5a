"""Render ``benchmarks/results/<scale>.json`` files as the Markdown of RESULTS.md: per scale
the machine, the stages of the refresh, the peers with ratios and checks, the targets met or
missed, online lookup latency, and the profile of the slowest stage."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.targets import TOTALS, WITH_INGEST, evaluate, refresh_total

HEADER = """# Benchmark results

Written by `python -m benchmarks.run --scale SCALE` (`make bench SCALE=...`); the method is in
`docs/performance.md`. Seconds are the timed work of each stage (library imports excluded,
reported apart); peak RSS is the high-water mark of the stage's own process (`VmHWM`,
read by the stage; before 2026-12-03 `ru_maxrss` from `os.wait4`, which Linux carries
across `exec` from the small process that starts the stages). A ratio is peer seconds / our
seconds (> 1: we are faster). Every peer ran in the same run, on the same files.
"""
NOT_RUN_10M = """## 10m: not run

The 10M world has not been run on this machine: ingest peaked at 19.5 GB for 1M customers
and grows faster than linearly, so 10M does not fit in 24 GB as ingest stands. The estimate
from the 1M figures (campaign refresh ~13 min, over 16 GB) and its reasoning are in
`docs/performance.md`; they are estimates, not measurements.
"""
LABELS = {"generate": "world generation (input, not in the refresh)",
          "history": "set-up: features as of 2027-02-22 (not in the refresh)",
          "train": "training: holi_propensity + flash_sale_uplift (not in the refresh)",
          "baseline": "set-up: last week's run, governed and published (not in the refresh)",
          "ingest": "ingest", "features": "features build (5 views, as of 2027-03-01)",
          "online": "online load", "refresh": "refresh: score + segment (47 cohorts)",
          "govern": "governance: movement, controls, review, report",
          "exports": "channel exports", "drift": "drift gate", "publish": "approve + publish",
          "retrieval": "retrieval alone: all customers x 34 features"}


def _s(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def stage_rows(stages: dict) -> list[str]:
    rows = ["| stage | seconds | peak RSS (MB) | load | where the time goes |",
            "|---|---:|---:|---:|---|"]
    for name in ("generate", "history", "train", "baseline", *WITH_INGEST, "retrieval"):
        r = stages.get(name)
        if r is None:
            continue
        if "error" in r:
            rows.append(f"| {LABELS[name]} | failed | {r['peak_rss_mb']:,.0f} | - | "
                        f"{r['error'][-160:].replace('|', '/')} |")
            continue
        phases = ", ".join(f"{k} {v:.2f}" for k, v in (r.get("phases") or {}).items())
        rows.append(f"| {LABELS[name]} | {_s(r['seconds'])} | {r['peak_rss_mb']:,.0f} | "
                    f"{r.get('load_after', '-')} | {phases} |")
    for label, names in TOTALS.items():
        total, rss, missing = refresh_total(stages, names)
        note = f"missing: {', '.join(missing)}" if missing else "sum of: " + ", ".join(names)
        rows.append(f"| **{label}** | **{_s(total)}** | {rss:,.0f} (max) | | {note} |")
    return rows


def _check(info: dict, key: str = "check") -> str:
    c = info.get(key)
    if not c:
        return "-"
    verdict = "equal" if c["equal"] else f"**{c['mismatched_cells']} cells differ**"
    return f"{verdict} ({c['rows']:,} rows x {c['columns']} cols)"


def peer_rows(stages: dict) -> list[str]:
    rows = ["| ours | s | peer | s | peer RSS (MB) | ratio | output check |",
            "|---|---:|---|---:|---:|---:|---|"]

    def add(ours_label, ours_s, peer, peer_label, check="-"):
        r = stages.get(peer)
        if r is None or ours_s is None or "error" in r:
            note = r["error"][-120:].replace("|", "/") if r and "error" in r else "not run"
            rows.append(f"| {ours_label} | {_s(ours_s)} | {peer_label} | - | - | - | {note} |")
            return
        ratio = r["seconds"] / ours_s if ours_s else float("nan")
        rows.append(f"| {ours_label} | {_s(ours_s)} | {peer_label} | {_s(r['seconds'])} | "
                    f"{r['peak_rss_mb']:,.0f} | {ratio:.1f}x | {check} |")

    sec = {n: r.get("seconds") for n, r in stages.items() if "error" not in r}
    info = {n: r.get("info", {}) for n, r in stages.items()}
    mat = info.get("feast_materialize", {})
    mat_label = "Feast materialize -> SQLite"
    if mat.get("extrapolated"):
        mat_label += (f" (**extrapolated** from {mat['customers_materialised']:,} customers, "
                      f"{mat['measured_seconds']:.0f} s)")
    add("retrieval", sec.get("retrieval"), "feast_file", "Feast get_historical_features, "
        "file (dask) store" + _extra(info.get("feast_file", {})),
        _check(info.get("feast_file", {})))
    add("retrieval", sec.get("retrieval"), "feast_duckdb", "Feast get_historical_features, "
        "DuckDB store" + _extra(info.get("feast_duckdb", {})),
        _check(info.get("feast_duckdb", {})))
    add("online load", sec.get("online"), "feast_materialize", mat_label,
        f"{mat.get('rows_per_second', 0):,.0f} rows/s" if mat else "-")
    pandas = stages.get("pandas", {})
    ours_features = _sum(sec, "features", "retrieval")
    add("features build + retrieval", ours_features, "pandas", "pandas features + cohorts"
        + _extra(pandas.get("info", {})),
        _check(pandas.get("info", {}), "check_features") + "; cohorts: "
        + _check(pandas.get("info", {}), "check_cohorts"))
    floor = stages.get("floor")
    for label, names in TOTALS.items():
        total, _, _ = refresh_total(stages, names)
        if floor and "error" not in floor and total:
            rows.append(f"| {label} | {_s(total)} | read-once floor (DuckDB reads every "
                        f"canonical column) | {_s(floor['seconds'])} | "
                        f"{floor['peak_rss_mb']:,.0f} | refresh = {total / floor['seconds']:.1f}x "
                        "the floor | - |")
    return rows


def _extra(info: dict) -> str:
    if info.get("extrapolated"):
        return (f" (**extrapolated** from {info['entity_rows']:,} rows, "
                f"{info['measured_seconds']:.0f} s)")
    return ""


def _sum(sec: dict, *names: str) -> float | None:
    if any(sec.get(n) is None for n in names):
        return None
    return sum(sec[n] for n in names)


def lookup_rows(stages: dict) -> list[str]:
    info = stages.get("lookups", {}).get("info")
    if not info:
        return ["Online lookups: not run."]
    rows = ["| lookup | one id p50 / p99 (ms) | 100 ids p50 / p99 (ms) |", "|---|---:|---:|"]
    names = {"features": "our features (`online.lookup`, DuckDB)",
             "memberships": "our current memberships (published view)",
             "feast_online": "Feast `get_online_features` (SQLite), measured here"}
    held = info.get("held") or {}
    rows_of = {**info, "held_features": held.get("features"),
               "held_memberships": held.get("memberships")}
    names.update({"held_features": "our features, connection held open (query only)",
                  "held_memberships": "our memberships, connection held open (query only)"})
    for key, label in names.items():
        r = rows_of.get(key)
        if not r:
            continue
        width = f", {r['features']} features" if "features" in r else ""
        rows.append(f"| {label}{width} | {r['single']['p50_ms']} / {r['single']['p99_ms']} | "
                    f"{r['batch_100']['p50_ms']} / {r['batch_100']['p99_ms']} |")
    rows.append("| Feast Python feature server, published (1 row x 50 features) | ~7 (p99) | - |")
    return rows


def section(record: dict) -> list[str]:
    m, stages = record["machine"], record["stages"]
    v = ", ".join(f"{k} {val}" for k, val in m["versions"].items())
    out = [f"## {record['scale']}: {record['customers']:,} customers", "",
           f"{m['date']}; {m['cores']} cores, {m['memory_gb']} GB; load at start "
           f"{m['load_at_start']}; {v}.", *_reruns(record), *_models_from(record),
           *record.get("notes", []), "",
           "### Stages", "",
           *stage_rows(stages), "",
           "### Peers (same run, same data)", "", *peer_rows(stages), "",
           "### Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    out += [f"| {t} | {meas} | {verdict} |" for t, meas, verdict in
            evaluate(stages, record["customers"])]
    out += ["", "### Online lookups", "", *lookup_rows(stages), ""]
    prof = record.get("profile")
    if prof and prof.get("text"):
        lines = prof["text"].strip().splitlines()
        out += [f"### Profile of the slowest stage ({prof['stage']}, cProfile, cumulative)", "",
                "```", *lines[:40], "```", ""]
    return out


def _models_from(record: dict) -> list[str]:
    source = record.get("models_from")
    if not source:
        return []
    return [f"Training skipped at this scale: the refresh scores with champions copied from "
            f"`{source['source']}` (`--models-from`; see the notes below for that world)."]


def _reruns(record: dict) -> list[str]:
    return [f"Re-run later ({r['date']}, load {r['load_at_start']}): "
            f"{', '.join(r['stages'] or [])}.{' ' + r['note'] if r.get('note') else ''}"
            for r in record.get("reruns", [])]


def render(paths: list[Path]) -> str:
    order = {"10k": 0, "100k": 1, "1m": 2, "10m": 3}
    records = [json.loads(Path(p).read_text()) for p in paths]
    records.sort(key=lambda r: (order.get(r["scale"], 9), r["customers"]))
    lines = [HEADER]
    for record in records:
        lines += section(record)
    if not any(r["scale"] == "10m" for r in records):
        lines += [NOT_RUN_10M]
    if paths:
        from benchmarks.realtime_report import section as realtime_section

        lines += realtime_section(Path(paths[0]).parent / "realtime")
        from benchmarks.rest_report import section as rest_section

        lines += rest_section(Path(paths[0]).parent / "rest")
        lines += saved_sections(Path(paths[0]).parent / "sections")
        lines += config_commands_section(Path(paths[0]).parent / "config_commands.md")
    return "\n".join(lines) + "\n"


def save_record(record: dict, results: Path, section: Path, text: str | None) -> None:
    """Print a section benchmark's record and, with ``--save``, keep it: its JSON in
    ``results``, its Markdown in ``section``, and RESULTS.md rendered anew."""
    import json

    print(json.dumps(record, indent=2))
    if text is None:
        return
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(record, indent=2) + "\n")
    section.parent.mkdir(parents=True, exist_ok=True)
    section.write_text(text, encoding="utf-8")
    rerender()


def rerender() -> None:
    """RESULTS.md anew from every saved result: the scales' JSON, the section benchmarks'
    folders and ``results/sections/*.md``, so no benchmark's figures are lost when another
    saves its own."""
    results = Path(__file__).parent / "results"
    (results.parent / "RESULTS.md").write_text(render(sorted(results.glob("*.json"))))


def saved_records(folder: Path) -> list[dict]:
    """The runs a section benchmark saved in ``folder`` (``results/<kind>/*.json``), oldest
    first; [] when none was saved."""
    files = sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []
    return [json.loads(f.read_text()) for f in files]


def saved_sections(folder: Path) -> list[str]:
    """The sections a benchmark keeps as Markdown (``results/sections/NN-name.md``, in that
    order): written by the benchmark (review_desk) or by hand for figures measured
    without one (paired runs, profiles)."""
    files = sorted(Path(folder).glob("*.md")) if Path(folder).is_dir() else []
    return [line for f in files
            for line in [*f.read_text(encoding="utf-8").rstrip("\n").splitlines(), ""]]


def save_run(figures: dict, kind: str) -> None:
    """Keep one run's figures of a section benchmark (``realtime``, ``rest``) in
    ``results/<kind>/<date>.json`` and re-render RESULTS.md with every saved run."""
    results = Path(__file__).parent / "results"
    folder = results / kind
    folder.mkdir(parents=True, exist_ok=True)
    stamp = figures["date"].replace(" UTC", "Z").replace(" ", "T").replace(":", "")
    (folder / f"{stamp}.json").write_text(json.dumps(figures, indent=1))
    rerender()


def config_commands_section(path: Path) -> list[str]:
    """``benchmarks.config_commands``' saved tables and their reading, one level down."""
    if not path.is_file():
        return []
    return [("#" + line) if line.startswith("#") else line
            for line in path.read_text(encoding="utf-8").rstrip("\n").splitlines()] + [""]
