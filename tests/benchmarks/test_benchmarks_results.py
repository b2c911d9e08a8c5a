"""RESULTS.md is rendered from every saved result: a benchmark that saves its own figures
re-renders the whole page, so no other benchmark's section may be lost (or crash it)."""

from __future__ import annotations

from pathlib import Path

import benchmarks


def test_results_md_keeps_every_saved_section():
    from benchmarks.report import render

    results = Path(benchmarks.__file__).parent / "results"
    text = render(sorted(results.glob("*.json")))
    sections = sorted((results / "sections").glob("*.md"))
    assert sections
    for section in sections:
        assert section.read_text(encoding="utf-8").splitlines()[0] in text, section.name
    for heading in ("## Real time: webhook events", "## REST sync", "## 100k:",
                    "## Commands that only read configuration"):
        assert heading in text


def test_results_md_is_what_a_rerender_writes():
    """A section written into RESULTS.md by hand, not into ``results/sections/``, is lost
    the next time any benchmark saves its figures (three subsections of the incremental
    ingest were, until 2026-12-03): the page must be exactly what ``rerender`` writes."""
    from benchmarks.report import render

    results = Path(benchmarks.__file__).parent / "results"
    page = (results.parent / "RESULTS.md").read_text(encoding="utf-8")
    assert page == render(sorted(results.glob("*.json")))
