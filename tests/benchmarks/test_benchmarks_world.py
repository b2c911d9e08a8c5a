"""A world written before is reused by linking its sources, never by copying or changing them."""

from __future__ import annotations

import pytest

from segflow.errors import SegflowError


def test_sources_are_linked_and_sources_yaml_copied(tmp_path):
    from benchmarks.world import link_sources

    origin = tmp_path / "world" / "sources"
    origin.mkdir(parents=True)
    (origin / "orders.csv").write_text("order_id\n1\n")
    (origin / "sources.yaml").write_text("sources: {}\n")
    dest = link_sources(tmp_path / "world", tmp_path / "base" / "sources")
    assert (dest / "orders.csv").stat().st_ino == (origin / "orders.csv").stat().st_ino
    (dest / "sources.yaml").write_text("sources: {changed: true}\n")
    assert (origin / "sources.yaml").read_text() == "sources: {}\n"


def test_a_folder_without_sources_yaml_is_refused(tmp_path):
    from benchmarks.world import link_sources

    (tmp_path / "world" / "sources").mkdir(parents=True)
    with pytest.raises(SegflowError, match="no sources/sources.yaml"):
        link_sources(tmp_path / "world", tmp_path / "dest")
