"""The movement page tells the story in business words, and every number it states is a
count of movement.parquet's rows; moves between cohorts read up or down by priority."""

from __future__ import annotations

import re

import pandas as pd
from govworld import AS_OF_1, AS_OF_2, approve_and_publish, governed
from test_governance_movement import changed

from segflow.pages.fmt import Formatter

TITLES = {"lapsed_high_value": "Lapsed high-value", "new_signups": "New sign-ups",
          "engaged": "Engaged buyers"}


def test_every_sentence_is_in_words_and_matches_the_movement_file(world_data):
    settings, f1 = world_data
    first = governed(settings, f1, AS_OF_1)
    approve_and_publish(settings, first)
    run = governed(settings, changed(f1), AS_OF_2)
    folder = settings.runs_dir / run
    page = (folder / "movement.html").read_text(encoding="utf-8")
    story = re.search(r'<section class="story" id="story">(.*?)</section>', page, re.S)[1]
    movement = pd.read_parquet(folder / "movement.parquet")
    memberships = pd.read_parquet(folder / "memberships.parquet")
    fmt = Formatter("INR")
    counts = movement.movement.value_counts()
    assert (f"{fmt.count(counts.get('entered', 0))} customers entered a cohort, "
            f"{fmt.count(counts.get('exited', 0))} left every cohort, "
            f"{fmt.count(counts.get('moved', 0))} moved from one cohort to another") in story
    told = 0
    for cohort, title in TITLES.items():
        joined = movement[movement.cohort_after.eq(cohort)
                          & movement.movement.isin(["entered", "moved"])]
        left = movement[movement.cohort_before.eq(cohort)
                        & movement.movement.isin(["exited", "moved"])]
        if not len(joined) and not len(left):
            continue
        size = int((memberships.cohort.eq(cohort)
                    & memberships.status.isin(["assigned", "holdout"])).sum())
        net = len(joined) - len(left)
        verb = (f"grew by {net}" if net > 0 else f"shrank by {-net}" if net < 0
                else "kept its size")
        assert f"{title} {verb} to {size}" in story, (title, story)
        if len(joined):
            assert f"{len(joined)} joined (" in story
        if len(left):
            assert f"{len(left)} left (" in story
        told += 1
    assert told >= 2
    # business words: no feature's column name, no rule syntax, no long decimals
    words = story.replace(first, "")  # the published run is named by its id
    assert not re.search(r"[a-z]+_[a-z0-9_]+|>=|<=|BETWEEN|\d\.\d{3,}", words), words
    assert "recency days fell below 90" in page or "recency days reached 90" in page


def test_moves_between_cohorts_read_up_or_down_by_priority(world_data):
    """Lapsed high-value (priority 1) is the top tier: a lapsed buyer who bought again and
    now falls to Engaged buyers (priority 3) moved down."""
    settings, f1 = world_data
    approve_and_publish(settings, governed(settings, f1, AS_OF_1))
    run = governed(settings, changed(f1), AS_OF_2)
    movement = pd.read_parquet(settings.runs_dir / run / "movement.parquet")
    down = movement[movement.cohort_before.eq("lapsed_high_value")
                    & movement.cohort_after.isin(["new_signups", "engaged"])]
    assert len(down) > 0
    page = (settings.runs_dir / run / "movement.html").read_text(encoding="utf-8")
    for entity in down.entity_id:
        row = re.search(rf"<td class=\"text\">{entity}</td>.*?</tr>", page, re.S)[0]
        assert ">moved down<" in row
    assert ">moved up<" not in page or movement.cohort_after.eq("lapsed_high_value").any()
