"""The review desk benchmark runs end to end on a small queue, with the desk's own owners
file and queue schema: it broke once, unnoticed, when the desk began reading the owners
file for "my items" and the benchmark's context had none."""

from __future__ import annotations

import json
import subprocess
import sys

from holi_project import ROOT


def test_the_review_desk_benchmark_pages_every_view_of_a_small_queue():
    out = subprocess.run([sys.executable, "-m", "benchmarks.review_desk", "--items", "3000",
                          "--repeats", "1"], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=300)
    record = json.loads(out.stdout)
    views = {v["view"]: v["matches"] for v in record["views"]}
    assert views["no filter (sort: rule)"] == 3000
    assert views["my items (asha.rao: 2 templates, 200 accounts)"] > 0
    assert views["my items (ravi.k: owns 4 cohorts)"] > 0
    assert record["fill_keys_s"] >= 0 and record["open"]


def test_the_review_items_benchmark_finds_the_same_queue_either_way():
    """Copied into the database or read in place, the same items, pages and decision."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.review_items_driver", "--items",
                          "5000", "--repeats", "1"], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=300)
    copied, placed = json.loads(out.stdout)["layouts"]
    assert copied["open"] == placed["open"] == 5000
    assert [p["matches"] for p in copied["pages"]] == [p["matches"] for p in placed["pages"]]
    assert placed["database_mb"] < copied["database_mb"] and placed["decision_ms"] > 0
